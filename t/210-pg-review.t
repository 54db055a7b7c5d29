# Reviews in the Postgres gateway (hoop_pg_review, hoop_pg_role review=),
# end to end with psql and DBD::Pg, real PostgreSQL and Redis, and the
# approvers' HTTP API (hoop_api) of the same nginx: a held statement gets a
# NoticeResponse naming its review; approved, it runs and its rows arrive;
# rejected, expired, cancelled or with Redis away it fails, and a
# transaction around it is aborted as PostgreSQL would abort it.
#
# alice and bob are engineers (group eng), carol (sec and eng) and dave
# (sec) approve.
# Each block's client is Perl using the helpers in PgReviewTest (written
# below): psql runs in the background while the test decides.

use strict;
use warnings;

our ($kit);

BEGIN {
    require HoopToken;
    require IO::Socket::INET;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $ENV{TEST_NGINX_AUDIT_STREAM} = "hoop:test:pgreview:$$";
    $ENV{HOOP_KIT_DIR} = $kit->dir;

    # a port nothing listens on: "Redis unreachable"
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no free port: $!\n";
    $ENV{TEST_NGINX_DEAD_PORT} = $s->sockport;
    close $s;

    # a Redis of a test's own (TEST 16): the gateway port + 2
    $ENV{TEST_NGINX_OWN_REDIS_PORT} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 2;

    # tokens for the clients (HoopToken needs the kit: minted here)
    for my $who (['alice', ['eng']], ['bob', ['eng']],
                 ['carol', ['sec', 'eng']], ['dave', ['sec']])
    {
        $ENV{'TOKEN_' . uc $who->[0]} = $kit->token(claims => {
            sub => $who->[0], email => "$who->[0]\@example.com",
            groups => $who->[1],
        });
    }

    open my $out, '>', $kit->dir . '/PgReviewTest.pm'
        or die "PgReviewTest: $!\n";
    print $out <<'PERL';
package PgReviewTest;

use strict;
use warnings;
use Exporter 'import';
use File::Temp ();
use HTTP::Tiny;
use JSON::PP ();
use POSIX ();
use Redis;

our @EXPORT = qw(redis clean api_post psql_start psql_notice psql_finish
                 wait_until review event_of wire_start wire_read);

my $pw = do {
    local $/;
    open my $f, '<', $ENV{TEST_NGINX_VAULT} or die "vault: $!\n";
    JSON::PP::decode_json(<$f>)->{redis};
};

sub redis {
    Redis->new(server => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}",
               password => $pw, reconnect => 0);
}

sub clean {
    my $r = redis();
    for my $pat ('hoop:review:*', 'hoop:reviews*', 'hoop:grant:*',
                 'hoop:session:*', 'hoop:sessions')
    {
        my @k = $r->keys($pat);
        $r->del(@k) if @k;
    }
    $r->del($ENV{TEST_NGINX_AUDIT_STREAM});

    # nginx just started: its review store must be connected (commands)
    # and subscribed (decisions) before a statement is held
    wait_until(sub {
        my $res = HTTP::Tiny->new(timeout => 5)->get(
            "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/api/reviews?limit=1",
            { headers => { Authorization => "Bearer $ENV{TOKEN_CAROL}" } });
        my %n = redis()->pubsub_numsub('hoop:review:decided');
        $res->{status} == 200 && $n{'hoop:review:decided'};
    }, "the review store to connect");
}

# polls every 50 ms, 20 s at most
sub wait_until {
    my ($code, $what) = @_;
    for (1 .. 400) {
        my $v = eval { $code->() };
        return $v if $v;
        select undef, undef, undef, 0.05;
    }
    die "timed out waiting for $what\n";
}

# POST /api/reviews/<id>/<what> as someone: "status state-or-error"
sub api_post {
    my ($who, $id, $what, $comment) = @_;
    my $res = HTTP::Tiny->new(timeout => 20)->post(
        "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/api/reviews/$id/$what",
        { headers => { Authorization => 'Bearer ' . $ENV{'TOKEN_' . uc $who},
                       'Content-Type' => 'application/json' },
          content => JSON::PP::encode_json({ comment => $comment // '' }) });
    my $body = eval { JSON::PP::decode_json($res->{content}) } // {};
    return "$res->{status} " . ($body->{state} // $body->{error} // '?');
}

# psql as someone to a role profile, the script on stdin; in the
# background, stdout and stderr to a file
sub psql_start {
    my ($who, $role, $script) = @_;
    my $out = File::Temp->new;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', $out->filename or die;
        open STDERR, '>&', \*STDOUT or die;
        $ENV{PGPASSWORD} = $ENV{'TOKEN_' . uc $who};
        open my $in, '|-', 'psql', '-X', '-At', '-v', 'VERBOSITY=verbose',
             "host=127.0.0.1 port=$ENV{TEST_NGINX_PG_GW_PORT} user=$role "
             . "dbname=hoop_test sslmode=disable"
            or die "psql: $!\n";
        print $in $script;
        close $in;
        POSIX::_exit($? >> 8);
    }
    return { pid => $pid, out => $out };
}

sub slurp { local $/; open my $f, '<', $_[0] or return ''; <$f> // '' }

# the review id the client was told about
sub psql_notice {
    my ($p) = @_;
    return wait_until(sub {
        slurp($p->{out}->filename) =~ /held for review ([A-Za-z0-9_-]{16})/
            && $1
    }, "the notice");
}

# the client's output once it exited, without notices and without the
# server's source locations
sub psql_finish {
    my ($p) = @_;
    waitpid $p->{pid}, 0;
    return join '', grep { !/NOTICE|^LOCATION:/ } split /^/,
                             slurp($p->{out}->filename);
}

# a wire transcript (HoopPgWire notation) sent at once; plaintext login
sub wire_start {
    my ($text) = @_;
    require HoopPgWire;
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new("127.0.0.1:$ENV{TEST_NGINX_PG_GW_PORT}")
        or die "connect: $!\n";
    print $s HoopPgWire::encode($text);
    return { sock => $s, got => '' };
}

# decoded messages received so far, read until $done->(@messages) or the
# end; without ParameterStatus, BackendKeyData and Authentication*
sub wire_read {
    my ($w, $done) = @_;
    my @m;
    wait_until(sub {
        my $n = sysread $w->{sock}, $w->{got}, 65536, length $w->{got};
        @m = grep { !/^(?:ParameterStatus|BackendKeyData|Authentication)/ }
             HoopPgWire::decode($w->{got});
        return 1 if !$n;
        return $done && $done->(@m);
    }, "the answers");
    return @m;
}

sub review {
    my ($id) = @_;
    return { redis()->hgetall("hoop:review:$id") };
}

# the statement events of a review, oldest first
sub event_of {
    my ($id) = @_;
    my @e;
    for my $entry (@{ redis()->xrange($ENV{TEST_NGINX_AUDIT_STREAM},
                                      '-', '+') })
    {
        my %f = @{ $entry->[1] };
        push @e, \%f if $f{type} eq 'statement' && ($f{review} // '') eq $id;
    }
    return @e;
}

1;
PERL
    close $out;
}

use Test::Nginx::Socket 'no_plan';
use HoopClient;

HoopClient::install();

repeat_each(1);
no_shuffle();

add_block_preprocessor(sub {
    my ($block) = @_;

    if (!defined $block->main_config) {
        $block->set_value('main_config', <<'CONF');
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis;
hoop_audit_stream $TEST_NGINX_AUDIT_STREAM;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_review_api      /api;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=eng;
        hoop_pg_role quick  user=app_scram password=vault:app_scram
                            database=hoop_test groups=eng;
        hoop_pg_role gated  user=app_scram password=vault:app_scram
                            database=hoop_test groups=eng review=1h;

        hoop_pg_review statement=select relation=people roles=writer;
        hoop_pg_review statement=select relation=people roles=quick
                       timeout=1s;
        hoop_pg_deny   statement=drop;
        hoop_pg_deny   function=pg_sleep;
        hoop_audit on;
    }
}
CONF
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'CONF');
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
CONF
    }
});

run_tests();

__DATA__

=== TEST 1: psql: the held statement's client is told the review id at once; approved through hoop_api, the statement runs and its rows arrive; the audit records it approved with its rows
"id <= 3" returns ids 1, 2, 3.  The review records who asked, the
profile and the normalized text (as psql sent it, with its semicolon);
the statement event names the review.
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    my $p = psql_start("alice", "writer", "SELECT id FROM people WHERE id <= 3;\n");
    my $id = psql_notice($p);
    my $r = review($id);
    print "review: $r->{state} kind=$r->{kind} scope=$r->{scope} sub=$r->{sub} text=$r->{text}\n";
    print "approve: ", api_post("carol", $id, "approve", "fine"), "\n";
    print psql_finish($p);
    print "exit: ", $? >> 8, "\n";
    my ($e) = wait_until(sub { my @e = event_of($id); @e ? \@e : undef }, "event")->[0];
    print "event: decision=$e->{decision} rows=$e->{rows} rule=$e->{rule}\n";
'
--- client_output
review: pending kind=statement scope=writer sub=alice text=SELECT id FROM people WHERE id <= $1;
approve: 200 approved
1
2
3
exit: 0
event: decision=approved rows=3 rule=hoop_pg_review statement=select relation=people roles=writer



=== TEST 2: rejected: 42501 with the approver's comment; inside BEGIN the transaction is aborted (the next statement gets 25P02) until ROLLBACK, and the session goes on
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    my $p = psql_start("alice", "writer", join "\n",
        "BEGIN;", "SELECT 1;", "SELECT name FROM people WHERE id = 1;",
        "SELECT 2;", "ROLLBACK;", "SELECT 3;", "");
    my $id = psql_notice($p);
    print "reject: ", api_post("carol", $id, "reject", "not during business hours"), "\n";
    (my $out = psql_finish($p)) =~ s/\Q$id\E/<id>/g;
    print $out;
    my ($e) = wait_until(sub { my @e = event_of($id); @e ? \@e : undef }, "event")->[0];
    print "event: decision=$e->{decision} error=$e->{error}\n";
'
--- client_output
reject: 200 rejected
BEGIN
1
ERROR:  42501: statement rejected in review <id>: not during business hours
ERROR:  25P02: current transaction is aborted, commands ignored until end of transaction block
ROLLBACK
3
event: decision=rejected error=42501



=== TEST 3: no decision within the rule's timeout (1s): 42501 naming the expired review; the review is recorded expired
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    my $p = psql_start("alice", "quick", "SELECT name FROM people WHERE id = 1;\nSELECT 4;\n");
    my $id = psql_notice($p);
    (my $out = psql_finish($p)) =~ s/\Q$id\E/<id>/g;
    print $out;
    print "state: ", review($id)->{state}, "\n";
'
--- client_output
ERROR:  42501: review <id> expired: no decision within 1000 ms
4
state: expired



=== TEST 4: DBD::Pg: a CancelRequest while held fails the statement with 57014 and withdraws the review; the session runs the next statement; a prepared (extended protocol) statement is held at its Parse and, approved, runs with its parameter
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -MDBI -MDBD::Pg=:async -e '
    clean();
    my $dbh = DBI->connect("dbi:Pg:dbname=hoop_test;host=127.0.0.1;port=$ENV{PGPORT};sslmode=disable",
                           "writer", $ENV{TOKEN_ALICE},
                           { RaiseError => 0, PrintError => 0, PrintWarn => 0, AutoCommit => 1 })
        or die "connect: $DBI::errstr\n";
    $dbh->do("SELECT count(*) FROM people", { pg_async => PG_ASYNC });
    my $id = wait_until(sub { (redis()->zrange("hoop:reviews:pending", 0, -1))[0] }, "the review");
    $dbh->pg_cancel;
    print "cancelled: ", $dbh->state, "\n";
    print "review: ", wait_until(sub { my $s = review($id)->{state}; $s ne "pending" && $s }, "withdrawn"), "\n";
    print "next: ", $dbh->selectrow_array("SELECT 5"), "\n";

    my $sth = $dbh->prepare("SELECT id FROM people WHERE id <= ? ORDER BY id", { pg_async => PG_ASYNC });
    $sth->bind_param(1, 2);
    $sth->execute;
    $id = wait_until(sub { (redis()->zrange("hoop:reviews:pending", 0, -1))[0] }, "the second review");
    print "text: ", review($id)->{text}, "\n";
    print "approve: ", api_post("carol", $id, "approve"), "\n";
    $dbh->pg_result;
    print "rows: ", join(",", map { $_->[0] } @{ $sth->fetchall_arrayref }), "\n";
    $dbh->disconnect;
'
--- client_output
cancelled: 57014
review: withdrawn
next: 5
text: SELECT id FROM people WHERE id <= $1 ORDER BY id
approve: 200 approved
rows: 1,2



=== TEST 5: approval comes from another approver only: carol (an approver) approving her own statement is refused by hoop_api, and the statement stays held until dave approves it
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    my $p = psql_start("carol", "writer", "SELECT id FROM people WHERE id = 7;\n");
    my $id = psql_notice($p);
    my $self = api_post("carol", $id, "approve");
    print "carol approves: ", ($self =~ /^403 / ? "403" : $self), "\n";
    print "state: ", review($id)->{state}, "\n";
    print "dave approves: ", api_post("dave", $id, "approve"), "\n";
    print psql_finish($p);
'
--- client_output
carol approves: 403
state: pending
dave approves: 200 approved
7



=== TEST 6: session-level review: a login to a profile with review= waits for a standing approval (FATAL 28000 naming the review); once approved, the same identity logs in within the window; another identity does not
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    my $p = psql_start("alice", "gated", "SELECT 6;\n");
    (my $out = psql_finish($p)) =~ s/review ([A-Za-z0-9_-]{16})/review <id>/;
    my $id = $1;
    print $out;
    my $again = psql_start("alice", "gated", "SELECT 6;\n");
    (my $out2 = psql_finish($again)) =~ s/review ([A-Za-z0-9_-]{16})/review <id>/;
    print "second try, same review: ", ($1 eq $id ? "yes" : "no: $1"), "\n";
    my $r = review($id);
    print "review: $r->{state} kind=$r->{kind} scope=$r->{scope} sub=$r->{sub}\n";
    print "approve: ", api_post("carol", $id, "approve"), "\n";
    print psql_finish(psql_start("alice", "gated", "SELECT 6;\n"));
    # on the wire (psql and libpq do not show the SQLSTATE of a failed login)
    require HoopPgWire;
    my $s = IO::Socket::INET->new("127.0.0.1:$ENV{PGPORT}") or die;
    print $s HoopPgWire::encode(qq{StartupMessage user=gated database=hoop_test\nPasswordMessage "$ENV{TOKEN_BOB}"});
    my $got = "";
    1 while sysread $s, $got, 65536, length $got;
    my ($err) = grep { /^ErrorResponse/ } HoopPgWire::decode($got);
    $err =~ s/review ([A-Za-z0-9_-]{16})/review <id>/;
    print "bob: ", ($1 ne $id ? "another review" : "same review"), ": $err\n";
'
--- client_output
psql: error: connection to server at "127.0.0.1", port $TEST_NGINX_PG_GW_PORT failed: FATAL:  access to role profile "gated" awaits approval: review <id>
second try, same review: yes
review: pending kind=session scope=gated sub=alice
approve: 200 approved
6
bob: another review: ErrorResponse S=FATAL C=28000 M="access to role profile \"gated\" awaits approval: review <id>"



=== TEST 7: Redis unreachable: a statement that needs review fails closed (42501, a clear message) and the session goes on; a login that needs approval is refused
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT password=vault:redis;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=eng;
        hoop_pg_role gated  user=app_scram password=vault:app_scram
                            database=hoop_test groups=eng review=1h;
        hoop_pg_review statement=select relation=people;
        hoop_audit on;
    }
}
--- config
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    print psql_finish(psql_start("alice", "writer", "SELECT name FROM people WHERE id = 1;\nSELECT 7;\n"));
    print psql_finish(psql_start("alice", "gated", "SELECT 7;\n"));
'
--- client_output
ERROR:  42501: this statement needs an approval, but the review service (Redis) is unreachable: denied
7
psql: error: connection to server at "127.0.0.1", port $TEST_NGINX_PG_GW_PORT failed: FATAL:  access to role profile "gated" needs an approval, but the review service (Redis) is unreachable



=== TEST 8: on the wire: the NoticeResponse comes at once; messages pipelined behind the held statement wait for it, and after the approval everything runs in the order sent
The client writes both queries at once: if the second one had gone to the
server while the first was held, its answer would come first.
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    my $w = wire_start(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$ENV{TOKEN_ALICE}"
Query "SELECT name FROM people WHERE id = 2"
Query "SELECT 8 AS after"
Terminate});
    my @m = wire_read($w, sub { grep { /^NoticeResponse/ } @_ });
    my ($id) = $m[-1] =~ /held for review ([A-Za-z0-9_-]{16})/;
    (my $n = $m[-1]) =~ s/\Q$id\E/<id>/g;
    print "$_\n" for @m[0 .. $#m - 1];
    print "$n\n";
    print "approve: ", api_post("carol", $id, "approve"), "\n";
    my @all = wire_read($w);
    print "$_\n" for @all[@m .. $#all];
'
--- client_output
ReadyForQuery I
NoticeResponse S=NOTICE C=00000 M="statement held for review <id>: approve or reject it through hoop_api (POST /api/reviews/<id>/approve); it fails in 300000 ms otherwise"
approve: 200 approved
RowDescription name:text
DataRow "Bob Brown"
CommandComplete "SELECT 1"
ReadyForQuery I
RowDescription after:int4
DataRow 8
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 9: the client goes away while its statement is held: the review is withdrawn
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    my $p = psql_start("alice", "writer", "SELECT id FROM people WHERE id = 9;\n");
    my $id = psql_notice($p);
    # psql (the child of the pipe parent): the connection closes
    system "pkill", "-KILL", "-P", $p->{pid};
    waitpid $p->{pid}, 0;
    print "review: ", wait_until(sub { my $s = review($id)->{state}; $s ne "pending" && $s }, "withdrawn"), "\n";
'
--- client_output
review: withdrawn



=== TEST 10: a session waiting for a review is not idle: hoop_pg_idle_timeout (300ms) does not close it; approved after it would have, the statement runs
An extended-protocol statement (held at its Parse, so its Sync has not
passed yet: nothing counts as in flight but the review).
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_idle_timeout    300ms;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=eng;
        hoop_pg_review statement=select relation=people timeout=1m;
    }
}
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    my $w = wire_start(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$ENV{TOKEN_ALICE}"
Parse "" "SELECT id FROM people WHERE id = \\\$1"
Bind "" "" 10
Execute ""
Sync
Terminate});
    my @m = wire_read($w, sub { grep { /^NoticeResponse/ } @_ });
    my ($id) = $m[-1] =~ /held for review ([A-Za-z0-9_-]{16})/;
    # three idle timeouts
    select undef, undef, undef, 0.9;
    print "approve: ", api_post("carol", $id, "approve"), "\n";
    my @all = wire_read($w);
    print "$_\n" for @all[@m .. $#all];
'
--- client_output
approve: 200 approved
ParseComplete
BindComplete
DataRow 10
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 11: deny wins over review: a statement both a review rule and a deny rule match is denied at once, and no review is created
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    print psql_finish(psql_start("alice", "writer", "SELECT pg_sleep(0) FROM people WHERE id = 1;\nSELECT 11;\n"));
    my @reviews = redis()->zrange("hoop:reviews", 0, -1);
    print "reviews: ", scalar(@reviews), "\n";
'
--- client_output
ERROR:  42501: denied by hoop_pg_deny function=pg_sleep
11
reviews: 0



=== TEST 12: configuration errors: hoop_pg_review needs a selector
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg_review roles=writer timeout=1m;
    }
}
--- config
--- must_die
--- error_log
"hoop_pg_review" needs at least one of "statement=", "relation=", "function=", "where=none"



=== TEST 13: configuration errors: a zero review timeout
--- main_config
stream {
    hoop_pg_review statement=delete timeout=0;
}
--- config
--- must_die
--- error_log
invalid "timeout=0"



=== TEST 14: configuration errors: a role profile's review window that is not a time
--- main_config
hoop_vault file=$TEST_NGINX_VAULT;
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth oidc=test;
        hoop_pg_role gated user=app_scram password=vault:app_scram review=soon;
    }
}
--- config
--- must_die
--- error_log
invalid "review=soon"



=== TEST 15: on the wire, extended protocol rejected: the held Parse fails with 42501, the server skips the rest of the Sync (one ReadyForQuery), and the Query pipelined after it runs
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    clean();
    my $w = wire_start(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$ENV{TOKEN_ALICE}"
Parse "" "SELECT name FROM people WHERE id = 15"
Bind "" ""
Describe P ""
Execute ""
Sync
Query "SELECT 15 AS after"
Terminate});
    my @m = wire_read($w, sub { grep { /^NoticeResponse/ } @_ });
    my ($id) = $m[-1] =~ /held for review ([A-Za-z0-9_-]{16})/;
    print "reject: ", api_post("carol", $id, "reject", "no"), "\n";
    my @all = wire_read($w);
    s/\Q$id\E/<id>/g for @all;
    print "$_\n" for @all[@m .. $#all];
'
--- client_output
reject: 200 rejected
ErrorResponse S=ERROR C=42501 M="statement rejected in review <id>: no"
ReadyForQuery I
RowDescription after:int4
DataRow 15
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 16: Redis goes away while a statement is held: once the review store gives up on it (its grace), the statement fails closed with 42501 and the session goes on
The gateway's Redis here is one of this test's own (no password), started
after nginx (the store connects when it comes) and shut down while the
statement waits.
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT connect_timeout=1s;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=eng;
        hoop_pg_review statement=select relation=people;
    }
}
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -MFile::Temp=tempdir -MRedis -e '
    my $dir = tempdir(CLEANUP => 1);
    system("redis-server", "--port", $ENV{TEST_NGINX_OWN_REDIS_PORT},
           "--bind", "127.0.0.1", "--daemonize", "yes", "--save", "",
           "--appendonly", "no", "--dir", $dir,
           "--pidfile", "$dir/redis.pid", "--logfile", "$dir/redis.log") == 0
        or die "redis-server\n";
    my $own = wait_until(sub { Redis->new(server => "127.0.0.1:$ENV{TEST_NGINX_OWN_REDIS_PORT}", reconnect => 0) }, "our Redis");
    # whatever happens below, it does not outlive the test
    END { system("sh", "-c", "kill \$(cat $dir/redis.pid 2>/dev/null) 2>/dev/null") if $dir }
    wait_until(sub { my %n = $own->pubsub_numsub("hoop:review:decided"); $n{"hoop:review:decided"} }, "the review store to subscribe");
    # and its command connection and the audit trail: with ours, four
    wait_until(sub { my @c = split /\n/, $own->client_list; @c >= 4 }, "the three Redis connections of the worker");
    my $p = psql_start("alice", "writer", "SELECT name FROM people WHERE id = 1;\nSELECT 16;\n");
    my $id = psql_notice($p);
    eval { $own->shutdown("nosave") };
    (my $out = psql_finish($p)) =~ s/\Q$id\E/<id>/g;
    print $out;
'
--- client_output
ERROR:  42501: review <id> failed, denied: the review store is unreachable
16



=== TEST 17: a FunctionCall message a review rule matches is held the same way: approved, the server runs it (int4pl(2, 3) = 5); rejected, 42501 and the session goes on
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=eng;
        hoop_pg_allow  statement=function_call;
        hoop_pg_review statement=function_call;
    }
}
--- client
perl -I$HOOP_KIT_DIR -It/lib -MPgReviewTest -e '
    require HoopPgWire;
    clean();
    # FunctionCall int4pl (oid 177): text arguments "2" and "3", text result
    my $call = HoopPgWire::message("F", pack("N n n n", 177, 1, 0, 2)
                                        . pack("N a*", 1, "2") . pack("N a*", 1, "3")
                                        . pack("n", 0));
    for my $what ("approve", "reject") {
        my $w = wire_start(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$ENV{TOKEN_ALICE}"});
        wire_read($w, sub { grep { /^ReadyForQuery/ } @_ });
        print { $w->{sock} } $call . HoopPgWire::encode(qq{Query "SELECT 17 AS after"\nTerminate});
        my @m = wire_read($w, sub { grep { /^NoticeResponse/ } @_ });
        my ($id) = $m[-1] =~ /held for review ([A-Za-z0-9_-]{16})/;
        print "text: ", review($id)->{text}, "\n";
        print "$what: ", api_post("carol", $id, $what), "\n";
        my @all = wire_read($w);
        s/\Q$id\E/<id>/g for @all;
        print "$_\n" for @all[@m .. $#all];
    }
'
--- client_output
text: (FunctionCall message)
approve: 200 approved
FunctionCallResponse 5
ReadyForQuery I
RowDescription after:int4
DataRow 17
CommandComplete "SELECT 1"
ReadyForQuery I
text: (FunctionCall message)
reject: 200 rejected
ErrorResponse S=ERROR C=42501 M="statement rejected in review <id>"
ReadyForQuery I
RowDescription after:int4
DataRow 17
CommandComplete "SELECT 1"
ReadyForQuery I
