# Audit events of the Postgres gateway in Redis: auth.ok, auth.failed,
# statement (normalized text, decision), session.close; never the token.

use strict;
use warnings;

our ($kit);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $ENV{TOKEN_SRE} = $kit->token(key => 'ec256', claims => {
        sub => 'u-1', email => 'ana@example.com', groups => ['sre'],
    });
    $ENV{TOKEN_ENG} = $kit->token(key => 'ec256', claims => {
        sub => 'u-2', groups => ['eng'],
    });
    # a stream of this run only
    $ENV{TEST_NGINX_AUDIT_STREAM} = "hoop:test:audit:$$";
    $ENV{TEST_NGINX_PG_GW_PORT2} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 1;
    $ENV{TEST_NGINX_PG_GW_PORT3} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 2;

    # hoop-events N FIELD...: waits for N entries in the stream, prints
    # the statement events (one line each, "-" for a missing field) and a
    # count of every event type
    $ENV{HOOP_EVENTS} = $kit->dir . '/hoop-events';
    open my $out, '>', $ENV{HOOP_EVENTS} or die "hoop-events: $!\n";
    print $out <<'PERL';
use strict;
use warnings;
use JSON::PP ();

my ($want, @fields) = @ARGV;
my $vault = do {
    local $/;
    open my $f, '<', $ENV{TEST_NGINX_VAULT} or die "vault: $!\n";
    JSON::PP::decode_json(<$f>);
};
$ENV{REDISCLI_AUTH} = $vault->{redis};
my @r = ('redis-cli', '-p', $ENV{TEST_NGINX_REDIS_PORT}, '--no-auth-warning');
my $stream = $ENV{TEST_NGINX_AUDIT_STREAM};

# events are shipped asynchronously: wait for the last one
for (1 .. 100) {
    my $n = `@r XLEN $stream`;
    last if $n >= $want;
    select undef, undef, undef, 0.05;
}

open my $in, '-|', @r, '--raw', 'XRANGE', $stream, '-', '+' or die;
my (@events, $cur);
while (my $l = <$in>) {
    chomp $l;
    if ($l =~ /^\d+-\d+$/) { push @events, $cur = {}; next }
    my $v = <$in> // last;
    chomp $v;
    $cur->{$l} = $v;
}
my %types;
for my $e (@events) {
    $types{$e->{type}}++;
    next unless $e->{type} eq 'statement';
    print join(' ', map { "$_=" . ($e->{$_} // '-') } @fields), "\n";
}
print join(' ', map { "$_:$types{$_}" } sort keys %types), "\n";
PERL
    close $out;

    # pg-send: a transcript (HoopPgWire notation) sent at once, read to the
    # end; prints the answers' types, one line
    $ENV{HOOP_PG_SEND} = $kit->dir . '/pg-send';
    open $out, '>', $ENV{HOOP_PG_SEND} or die "pg-send: $!\n";
    print $out <<'PERL';
use strict;
use warnings;
use IO::Socket::INET ();
use HoopPgWire ();

my ($port) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
    or die "pg-send: connect: $!\n";
my $text = do { local $/; <STDIN> };
$text =~ s/\$(\w+)/$ENV{$1}/g;
print $s HoopPgWire::encode($text);
my $got = '';
1 while $s->sysread($got, 65536, length $got);
print join(' ', map { /^ErrorResponse/ ? $_ : /^(\w+)/ ? $1 : () }
                grep { !/^(?:ParameterStatus|BackendKeyData|Authentication)/ }
                HoopPgWire::decode($got)), "\n";
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

    return if defined $block->main_config;

    $block->set_value('main_config', <<'CONF');
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis;
hoop_audit_stream $TEST_NGINX_AUDIT_STREAM;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                     127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_ssl_certificate     $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
        hoop_pg_auth                oidc=test;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_pg_deny statement=drop "message=no DDL via the gateway";
        hoop_audit on;
    }

    # wire transcripts: plaintext token login (loopback only)
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_audit on;
    }

    # passthrough: the client logs in to PostgreSQL itself
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT3;

        hoop_pg    127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_audit on;
    }
}
CONF
});

run_tests();

__DATA__

=== TEST 1: a session's events, in order, with identity, rows and errors of each query; literals and the token stay out
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
R="redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning"
$R DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=require" \
    -c "SELECT count(*) FROM people WHERE email = 'secret-literal@example.com'" \
    -c "SELECT 1/0" -c "SELECT id FROM people WHERE id <= 3" -c "DROP TABLE people" > /dev/null 2>&1
PGPASSWORD=$TOKEN_ENG psql -X -At "user=writer dbname=hoop_test sslmode=require" -c "SELECT 1" 2> /dev/null
# events are shipped asynchronously: wait for the last one
for i in $(seq 50); do
    [ "$($R XLEN $TEST_NGINX_AUDIT_STREAM)" -ge 8 ] && break; sleep 0.1
done
$R --raw XRANGE $TEST_NGINX_AUDIT_STREAM - + > /tmp/hoop-audit-$$.txt
perl -e '
    local $/; my $all = <STDIN>;
    # entries: id, then name/value lines; keep type + a few fields
    my @lines = split /\n/, $all;
    my (@events, $cur);
    while (@lines) {
        my $l = shift @lines;
        if ($l =~ /^\d+-\d+$/) { push @events, $cur = {}; next }
        my $v = shift @lines; $cur->{$l} = $v;
    }
    for my $e (@events) {
        print join(" ", map { "$_=" . ($e->{$_} // "-") }
                   qw(type user email groups role database db_user decision rule statement rows error reason)), "\n";
        # a duration is measured, whatever it is
        die "no duration_ms in a statement event\n"
            if $e->{type} eq "statement" && ($e->{duration_ms} // "") !~ /^\d+$/;
    }
' < /tmp/hoop-audit-$$.txt
grep -c "$TOKEN_SRE" /tmp/hoop-audit-$$.txt
grep -c "secret-literal" /tmp/hoop-audit-$$.txt
grep -c "session_id" /tmp/hoop-audit-$$.txt
rm -f /tmp/hoop-audit-$$.txt
--- client_exit: 0
--- client_output
type=auth.ok user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=- rule=- statement=- rows=- error=- reason=-
type=session.open user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=- rule=- statement=- rows=- error=- reason=-
type=statement user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=allowed rule=- statement=SELECT count(*) FROM people WHERE email = $1 rows=1 error=- reason=-
type=statement user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=allowed rule=- statement=SELECT $1/$2 rows=0 error=22012 reason=-
type=statement user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=allowed rule=- statement=SELECT id FROM people WHERE id <= $1 rows=3 error=- reason=-
type=statement user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=denied rule=hoop_pg_deny statement=drop statement=DROP TABLE people rows=0 error=42501 reason=-
type=session.close user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=- rule=- statement=- rows=- error=- reason=-
type=auth.failed user=u-2 email=- groups=eng role=writer database=hoop_test db_user=- decision=- rule=- statement=- rows=- error=- reason="u-2" may not use role profile "writer"
0
0
8



=== TEST 4: pgbench -M extended and -M prepared: one event per executed statement with its rows; a prepared statement's Parse once, its Executes named after it
pgbench runs the script twice per mode (the text as sent, with its
semicolon).  "id <= 5" returns ids 1..5 (5 rows), "id BETWEEN 2 AND 4" 3
rows.  With -M prepared each command is prepared (named) just before its
first execution.
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
S=$(mktemp)
printf 'SELECT id FROM people WHERE id <= 5;\nSELECT id FROM people WHERE id BETWEEN 2 AND 4;\n' > $S
for mode in extended prepared; do
    PGSSLMODE=require PGPASSWORD=$TOKEN_SRE pgbench -n -t 2 -M $mode -f $S \
        -U writer hoop_test > /dev/null 2>&1 || echo "pgbench -M $mode failed"
done
rm -f $S
# pgbench connects once more before its client: 2 sessions per run, each
# auth.ok, session.open, session.close; 10 statement events
perl $HOOP_EVENTS 22 protocol statement_name statement rows error \
    | sed -E 's/statement_name=P[_0-9]+/statement_name=<P>/'
--- client_output
protocol=execute statement_name=- statement=SELECT id FROM people WHERE id <= $1; rows=5 error=-
protocol=execute statement_name=- statement=SELECT id FROM people WHERE id BETWEEN $1 AND $2; rows=3 error=-
protocol=execute statement_name=- statement=SELECT id FROM people WHERE id <= $1; rows=5 error=-
protocol=execute statement_name=- statement=SELECT id FROM people WHERE id BETWEEN $1 AND $2; rows=3 error=-
protocol=parse statement_name=<P> statement=SELECT id FROM people WHERE id <= $1; rows=0 error=-
protocol=execute statement_name=<P> statement=SELECT id FROM people WHERE id <= $1; rows=5 error=-
protocol=parse statement_name=<P> statement=SELECT id FROM people WHERE id BETWEEN $1 AND $2; rows=0 error=-
protocol=execute statement_name=<P> statement=SELECT id FROM people WHERE id BETWEEN $1 AND $2; rows=3 error=-
protocol=execute statement_name=<P> statement=SELECT id FROM people WHERE id <= $1; rows=5 error=-
protocol=execute statement_name=<P> statement=SELECT id FROM people WHERE id BETWEEN $1 AND $2; rows=3 error=-
auth.ok:4 session.close:4 session.open:4 statement:10



=== TEST 5: DBD::Pg server-prepared statements: each execute recorded with the prepared text, its rows and its error
The statement "id <= ?" executed with 3 and 7 returns 3 and 7 rows; the
division executed with 0 fails with 22012 (division_by_zero) and with 4
returns one row.  DBD::Pg (pg_switch_prepared 2) runs a statement's first
execution unnamed and prepares it by name for the second: so the first
execute carries no statement name, and the named Parse comes before the
second.  Normalized, 100 becomes $2 (the client's $1 is taken).
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
perl -MDBI -e '
    my $dbh = DBI->connect("dbi:Pg:dbname=hoop_test;host=127.0.0.1;port=$ENV{PGPORT};sslmode=require",
                           "writer", $ENV{TOKEN_SRE},
                           { RaiseError => 0, PrintError => 0, AutoCommit => 1 })
        or die "connect: $DBI::errstr\n";
    my $sth = $dbh->prepare("SELECT id FROM people WHERE id <= ?");
    for my $n (3, 7) { $sth->execute($n); my $r = $sth->fetchall_arrayref; print scalar(@$r), "\n" }
    my $div = $dbh->prepare("SELECT 100 / ?::int");
    $div->execute(0) and die "no error\n"; print $div->state, "\n";
    $div->execute(4); print $div->fetchrow_array, "\n";
    $div->finish;
    $dbh->disconnect;
'
perl $HOOP_EVENTS 9 protocol statement_name statement rows error \
    | sed -E 's/statement_name=dbdpg_p[0-9]+_([0-9]+)/statement_name=dbdpg_\1/'
--- client_output
3
7
22012
25
protocol=execute statement_name=- statement=SELECT id FROM people WHERE id <= $1 rows=3 error=-
protocol=parse statement_name=dbdpg_1 statement=SELECT id FROM people WHERE id <= $1 rows=0 error=-
protocol=execute statement_name=dbdpg_1 statement=SELECT id FROM people WHERE id <= $1 rows=7 error=-
protocol=execute statement_name=- statement=SELECT $2 / $1::int rows=0 error=22012
protocol=parse statement_name=dbdpg_2 statement=SELECT $2 / $1::int rows=0 error=-
protocol=execute statement_name=dbdpg_2 statement=SELECT $2 / $1::int rows=1 error=-
auth.ok:1 session.close:1 session.open:1 statement:6



=== TEST 6: a pipeline (one write, one Sync): each Execute gets its own answer; after the error the rest of the Sync is skipped; a simple Query sums its statements; a portal suspended then resumed
generate_series(1,4) gives 4 rows; 1/0 fails at execution; "SELECT 2"
after it in the same Sync is skipped by the server (no answer).  The
Query's two statements return 1 and 2 rows (3).  Portal p over 10 rows:
4 rows then suspended, then the other 6 ("SELECT 6").
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
perl $HOOP_PG_SEND $TEST_NGINX_PG_GW_PORT2 <<'PG'
StartupMessage user=writer database=hoop_test
PasswordMessage "$TOKEN_SRE"
Parse "" "SELECT g FROM generate_series(1, 4) g"
Bind "" ""
Execute ""
Parse "" "SELECT 1/0"
Bind "" ""
Execute ""
Parse "" "SELECT 2"
Bind "" ""
Execute ""
Sync
Query "SELECT 1; SELECT 2 UNION SELECT 3"
Parse q "SELECT * FROM generate_series(1, 10)"
Bind p q
Execute p 4
Execute p 0
Sync
Terminate
PG
perl $HOOP_EVENTS 10 protocol statement_name statement rows error skipped suspended
--- client_output
ReadyForQuery ParseComplete BindComplete DataRow DataRow DataRow DataRow CommandComplete ParseComplete ErrorResponse S=ERROR C=22012 M="division by zero" ReadyForQuery RowDescription DataRow CommandComplete RowDescription DataRow DataRow CommandComplete ReadyForQuery ParseComplete BindComplete DataRow DataRow DataRow DataRow PortalSuspended DataRow DataRow DataRow DataRow DataRow DataRow CommandComplete ReadyForQuery
protocol=execute statement_name=- statement=SELECT g FROM generate_series($1, $2) g rows=4 error=- skipped=- suspended=-
protocol=execute statement_name=- statement=SELECT $1/$2 rows=0 error=22012 skipped=- suspended=-
protocol=execute statement_name=- statement=SELECT $1 rows=0 error=- skipped=1 suspended=-
protocol=query statement_name=- statement=SELECT $1; SELECT $2 UNION SELECT $3 rows=3 error=- skipped=- suspended=-
protocol=parse statement_name=q statement=SELECT * FROM generate_series($1, $2) rows=0 error=- skipped=- suspended=-
protocol=execute statement_name=q statement=SELECT * FROM generate_series($1, $2) rows=4 error=- skipped=- suspended=1
protocol=execute statement_name=q statement=SELECT * FROM generate_series($1, $2) rows=6 error=- skipped=- suspended=-
auth.ok:1 session.close:1 session.open:1 statement:7



=== TEST 7: a pipeline deeper than the gateway tracks (128 statements in flight): every statement is recorded, those beyond the bound at once and marked untracked
One Parse and 130 Executes of "SELECT 1" in one Sync, then a Query,
all in one write: the Parse and 127 Executes fill the 128 places and are
recorded with their rows (1 each); the other 3 Executes, and the Query
behind them, are recorded at once without result fields.
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
{
    echo 'StartupMessage user=writer database=hoop_test'
    echo 'PasswordMessage "$TOKEN_SRE"'
    echo 'Parse "" "SELECT 1"'
    for i in $(seq 130); do echo 'Bind "" ""'; echo 'Execute ""'; done
    echo Sync
    echo 'Query "SELECT 5"'
    echo Terminate
} | perl $HOOP_PG_SEND $TEST_NGINX_PG_GW_PORT2 | tr ' ' '\n' | sort | uniq -c | sed 's/^ *//'
perl $HOOP_EVENTS 135 protocol rows untracked | sort | uniq -c | sed 's/^ *//'
--- client_output
130 BindComplete
131 CommandComplete
131 DataRow
1 ParseComplete
3 ReadyForQuery
1 RowDescription
1 auth.ok:1 session.close:1 session.open:1 statement:131
3 protocol=execute rows=- untracked=1
127 protocol=execute rows=1 untracked=-
1 protocol=query rows=- untracked=1



=== TEST 8: passthrough (the client logs in to PostgreSQL itself): session.open says so, and a Query pipelined behind the startup packet is matched to its own answer, not to the login's ReadyForQuery
generate_series(1, 3) gives 3 rows.
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
perl $HOOP_PG_SEND $TEST_NGINX_PG_GW_PORT3 <<'PG'
StartupMessage user=app_trust database=hoop_test
Query "SELECT g FROM generate_series(1, 3) g"
Terminate
PG
perl $HOOP_EVENTS 2 protocol statement rows error
redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning --raw XRANGE $TEST_NGINX_AUDIT_STREAM - + \
    | grep -A1 -x -E 'login|tls|role' | grep -v -- --
--- client_output
ReadyForQuery RowDescription DataRow DataRow DataRow CommandComplete ReadyForQuery
protocol=query statement=SELECT g FROM generate_series($1, $2) g rows=3 error=-
session.open:1 statement:1
role
app_trust
tls
off
login
passthrough
role
app_trust



=== TEST 9: hoop_audit_required: when Redis is unreachable and no spool is set, new sessions are refused (57P03) and say why; without it the session runs (its events are lost and counted)
Nothing listens on 127.0.0.1:1, so every connect to "Redis" is refused at
once; until the worker's first attempt has failed the audit is "connecting"
(events would queue), hence the retries.
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:1;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_audit on;
        hoop_audit_required on;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_audit on;
    }
}
--- client
for i in $(seq 50); do
    out=$(perl $HOOP_PG_SEND $TEST_NGINX_PG_GW_PORT <<'MSG'
StartupMessage user=writer database=hoop_test
PasswordMessage "$TOKEN_SRE"
MSG
)
    case $out in *57P03*) break ;; esac
    sleep 0.1
done
echo "$out"
PGPASSWORD=$TOKEN_SRE psql -X -At \
    "host=127.0.0.1 port=$TEST_NGINX_PG_GW_PORT2 user=writer dbname=hoop_test sslmode=disable" \
    -c "SELECT 'ran without hoop_audit_required'"
--- client_exit: 0
--- client_output
ErrorResponse S=FATAL C=57P03 M="the audit trail cannot record new sessions now; try again later"
ran without hoop_audit_required
--- error_log
hoop pg: session refused by hoop_audit_required



=== TEST 10: normalized texts are cached per worker: statements differing only in numbers share one parse; a number the normalizer keeps (a type modifier, ORDER BY 1) is never borrowed from another statement
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
R="redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning"
$R DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=require" \
    -c "SELECT id FROM people WHERE id <= 3" \
    -c "SELECT id FROM people WHERE id <= 2" \
    -c "SELECT 'a'::varchar(10)" \
    -c "SELECT 'a'::varchar(20)" \
    -c "SELECT id, email FROM people ORDER BY 1 LIMIT 2" \
    -c "SELECT id, email FROM people ORDER BY 2 LIMIT 2" \
    -c "SELECT id FROM people WHERE email = 'x1@example.com'" \
    -c "SELECT id FROM people WHERE email = 'x2@example.com'" > /dev/null
for i in $(seq 50); do
    [ "$($R XLEN $TEST_NGINX_AUDIT_STREAM)" -ge 11 ] && break; sleep 0.1
done
# entries: an id line, then name and value lines
$R --raw XRANGE $TEST_NGINX_AUDIT_STREAM - + | perl -e '
    local $/; my @l = split /\n/, <STDIN>;
    while (@l) {
        my $name = shift @l;
        next if $name =~ /^\d+-\d+$/;
        my $value = shift @l;
        print "$value\n" if $name eq "statement";
    }
'
--- client_exit: 0
--- client_output
SELECT id FROM people WHERE id <= $1
SELECT id FROM people WHERE id <= $1
SELECT $1::varchar(10)
SELECT $1::varchar(20)
SELECT id, email FROM people ORDER BY 1 LIMIT $1
SELECT id, email FROM people ORDER BY 2 LIMIT $1
SELECT id FROM people WHERE email = $1
SELECT id FROM people WHERE email = $1
--- error_log
hoop pg audit: normalized text from the cache (number key



=== TEST 11: hoop_audit_flush: a fresh event waits for the flush time, 64 waiting events go at once
With a 5 s flush, one statement's event is not in the stream soon after
the statement, but is after the flush time; 70 statements fill a batch,
which goes without waiting, and the rest of them wait.
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis;
hoop_audit_stream $TEST_NGINX_AUDIT_STREAM;
hoop_audit_flush 5s;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_audit on;
    }
}
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
R="redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning"
statements() {
    $R --raw XRANGE $TEST_NGINX_AUDIT_STREAM - + | grep -c '^SELECT $1 AS flush_test'
}
$R DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
CONN="host=127.0.0.1 port=$TEST_NGINX_PG_GW_PORT user=writer dbname=hoop_test sslmode=disable"
# one statement in a session that stays open (its close event would not wait)
( echo "SELECT 1 AS flush_test;"; sleep 8 ) | PGPASSWORD=$TOKEN_SRE psql -X -At -q "$CONN" > /dev/null &
sleep 1
echo "after 1 s: $(statements)"
for i in $(seq 150); do
    [ "$(statements)" -ge 1 ] && break; sleep 0.1
done
echo "after the flush time: $(statements)"
# 70 statements: the first 64 events (auth.ok, session.open and 62
# statements) go as a batch, long before 5 s; the other 8 wait
( for i in $(seq 70); do echo "SELECT 1 AS flush_test;"; done; sleep 8 ) |
    PGPASSWORD=$TOKEN_SRE psql -X -At -q "$CONN" > /dev/null &
for i in $(seq 30); do
    [ "$(statements)" -ge 63 ] && break; sleep 0.1
done
sleep 0.5
echo "within 3.5 s: $(statements)"
wait
--- client_exit: 0
--- client_output
after 1 s: 0
after the flush time: 1
within 3.5 s: 63
--- timeout: 45
