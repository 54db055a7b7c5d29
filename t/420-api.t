# hoop_api: list, get, page through, approve and reject reviews; who may
# decide (approver groups, never the requester unless allowed); a review
# decided twice (409); a Postgres session's events, in order, replayable
# statement by statement.
#
# Reviews are made by "hoop_review" locations (gate mode: a request is
# refused with the review's id until approved).  alice and bob are
# engineers, carol approves (group "sec").  A block's "--- review" section
# is Perl run once nginx is up (t/lib/HoopReview.pm).

use strict;
use warnings;

use lib 't/lib';
use HoopReview;

BEGIN {
    HoopReview::setup();
    $ENV{TEST_NGINX_SRE_TOKEN} = $HoopReview::kit->token(claims => {
        sub => 'dana', email => 'dana@example.com', groups => ['sre'],
    });
}

use Test::Nginx::Socket 'no_plan';

HoopReview::install();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->main_config) {
        $block->set_value('main_config', <<'_EOC_');
hoop_vault file=$TEST_NGINX_VAULT;
hoop_oidc test issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis
           connect_timeout=10s;
hoop_audit_stream hoop:t420;
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
location /a/ {
    hoop_auth oidc=test;
    hoop_review name=a;
}
location /b/ {
    hoop_auth oidc=test;
    hoop_review name=b;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
location /self/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
    hoop_api_self_approve on;
}
_EOC_
    }

    if (!defined $block->user_files) {
        $block->set_value('user_files', ">>> a/x\na\n>>> b/x\nb\n");
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: who may use the API: no token 401, a non-approver may read but not decide, the requester may not decide their own review
--- review
ready();
clean_reviews();
my $r = api(undef, '/reviews');
out("no token: $r->[0]");

my $res = get_as('carol', '/a/x');
my $id = json($res->{content})->{review};

$r = api('bob', "/reviews/$id");
out("bob reads: $r->[0] $r->[1]{state} $r->[1]{sub}");
$r = api_post('bob', "/reviews/$id/approve");
out("bob approves: $r->[0] $r->[1]{error}");
$r = api_post('carol', "/reviews/$id/approve");
out("carol approves her own: $r->[0] $r->[1]{error}");
out("state: " . api('bob', "/reviews/$id")->[1]{state});

$res = HTTP::Tiny->new->post(url("/self/reviews/$id/approve"),
    { headers => { Authorization => 'Bearer ' . token('carol') } });
out("with hoop_api_self_approve on: $res->{status}");
out("state: " . api('bob', "/reviews/$id")->[1]{state});
--- review_output
no token: 401
bob reads: 200 pending carol
bob approves: 403 not an approver
carol approves her own: 403 the requester cannot decide their own review
state: pending
with hoop_api_self_approve on: 200
state: approved
--- no_error_log
[error]



=== TEST 2: list, filter by state, page through with the cursor; get one; unknown ids
--- review
ready();
clean_reviews();
# six reviews: three identities, two locations
for my $who (qw(alice bob carol)) {
    get_as($who, "/$_/x") for qw(a b);
}
my $all = api('bob', '/reviews');
my @all = @{ $all->[1]{reviews} };
out("all: $all->[0] " . scalar(@all) . " next_cursor="
    . ($all->[1]{next_cursor} // 'null'));
out("newest first: " . ((grep { $all[$_]{created} > $all[$_ - 1]{created} }
                              1 .. $#all) ? "no" : "yes"));

# pages of four
my $p1 = api('bob', '/reviews?limit=4')->[1];
my $p2 = api('bob', "/reviews?limit=4&cursor=$p1->{next_cursor}")->[1];
out("pages: " . scalar(@{ $p1->{reviews} }) . " + "
    . scalar(@{ $p2->{reviews} }) . ", then "
    . ($p2->{next_cursor} // 'null'));
my %seen;
$seen{$_->{id}}++ for @{ $p1->{reviews} }, @{ $p2->{reviews} };
out("distinct over the pages: " . scalar(keys %seen)
    . ", all of them: "
    . ((grep { !$seen{$_->{id}} } @all) ? "no" : "yes"));
out("same order as one page: "
    . (join(',', map { $_->{id} } @{ $p1->{reviews} }, @{ $p2->{reviews} })
       eq join(',', map { $_->{id} } @all) ? "yes" : "no"));

# decide two, filter
my ($x, $y) = map { $_->{id} } grep { $_->{sub} ne 'carol' } @all;
api_post('carol', "/reviews/$x/approve");
api_post('carol', "/reviews/$y/reject", '{"comment":"no"}');
for my $st (qw(pending approved rejected expired)) {
    my $l = api('bob', "/reviews?state=$st")->[1]{reviews};
    out("state=$st: " . scalar(@$l));
}

my $g = api('bob', "/reviews/$y")->[1];
my ($listed) = grep { $_->{id} eq $y } @all;
out("get: " . join(' ', map { "$_=$g->{$_}" }
                        qw(state comment approver kind))
    . " scope as listed: " . ($g->{scope} eq $listed->{scope} ? "yes" : "no"));
out("fields: " . join ' ', sort keys %$g);

my $r = api('bob', '/reviews/AAAAAAAAAAAAAAAA');
out("unknown id: $r->[0] $r->[1]{error}");
$r = api('bob', '/reviews/not-an-id');
out("malformed id: $r->[0] $r->[1]{error}");
$r = api('bob', '/reviews?limit=0');
out("limit=0: $r->[0] $r->[1]{error}");
$r = api('bob', '/reviews?cursor=garbage');
out("bad cursor: $r->[0] $r->[1]{error}");
$r = api('bob', '/nothing');
out("elsewhere: $r->[0]");
$r = HTTP::Tiny->new->delete(url("/api/reviews/$y"),
    { headers => { Authorization => 'Bearer ' . token('bob') } });
out("DELETE: $r->{status}");
--- review_output
all: 200 6 next_cursor=null
newest first: yes
pages: 4 + 2, then null
distinct over the pages: 6, all of them: yes
same order as one page: yes
state=pending: 4
state=approved: 1
state=rejected: 1
state=expired: 0
get: state=rejected comment=no approver=carol kind=http scope as listed: yes
fields: approver approver_email approver_user comment created decided email expires gateway groups id kind rule scope session_id state sub text user window
unknown id: 404 no such review
malformed id: 404 no such API endpoint
limit=0: 400 limit: 1 to 500
bad cursor: 400 invalid cursor
elsewhere: 404
DELETE: 405
--- no_error_log
[error]



=== TEST 3: a review is decided once: approve twice, reject after approve, approve after reject: 409; each decision audited once
--- review
ready();
clean_reviews();
redis()->del('hoop:t420');
my $a = json(get_as('alice', '/a/x')->{content})->{review};
my $b = json(get_as('alice', '/b/x')->{content})->{review};

my @r = (api_post('carol', "/reviews/$a/approve", '{"comment":"fine"}'),
         api_post('carol', "/reviews/$a/approve"),
         api_post('carol', "/reviews/$a/reject"),
         api_post('carol', "/reviews/$b/reject"),
         api_post('carol', "/reviews/$b/approve"));
out(join ' ', map { "$_->[0]/$_->[1]{state}" } @r);
$r[1][1]{id} = 'ID' if $r[1][1]{id} eq $a;
out("409 body: " . JSON::PP->new->canonical->encode($r[1][1]));

my $bad = api_post('carol', "/reviews/$b/approve", 'not json');
out("a body that is not JSON: $bad->[0] $bad->[1]{error}");
$bad = api_post('carol', "/reviews/$b/approve", '{"comment":42}');
out("a comment that is not a string: $bad->[0] $bad->[1]{error}");

wait_until(sub { 2 == grep { $_->{type} eq 'review.decided' }
                          events('hoop:t420') }, "two decisions");
for my $e (grep { $_->{type} eq 'review.decided' } events('hoop:t420')) {
    out("review.decided: " . join ' ', map { "$_=" . ($e->{$_} // '-') }
        qw(state kind scope sub approver approver_email comment));
}
--- review_output
200/approved 409/approved 409/approved 200/rejected 409/rejected
409 body: {"error":"the review is no longer pending","id":"ID","state":"approved"}
a body that is not JSON: 400 the body must be a JSON object
a comment that is not a string: 400 comment: a string of at most 1024 bytes
review.decided: state=approved kind=http scope=a sub=alice approver=carol approver_email=carol@example.com comment=fine
review.decided: state=rejected kind=http scope=b sub=alice approver=carol approver_email=carol@example.com comment=-
--- no_error_log
[error]



=== TEST 4: a Postgres session's events through the API, in order, with their outcomes; sessions listed newest first
--- main_config
hoop_vault file=$TEST_NGINX_VAULT;
hoop_oidc test issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis
           connect_timeout=10s;
hoop_audit_stream hoop:t420:4;

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
}
--- config
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
}
--- review
ready();
clean_reviews();
redis()->del('hoop:t420:4');

# a session whose list expired long ago (8 days, lists live 7): its entry in
# the index is swept away by the gateway's first session event
redis()->zadd('hoop:sessions', int(time * 1000) - 8 * 86400 * 1000,
              'expired-session');

sub psql {
    local $ENV{PGPASSWORD} = $ENV{TEST_NGINX_SRE_TOKEN};
    system('psql', '-X', '-At', '-q',
           "host=127.0.0.1 port=$ENV{TEST_NGINX_PG_GW_PORT} user=writer "
           . "dbname=hoop_test sslmode=require", (map { ('-c', $_) } @_))
        == 0 or 1;
}

# stdout and stderr of psql are not what this checks
open my $saved, '>&', \*STDOUT;
open my $saved_err, '>&', \*STDERR;
open STDOUT, '>', '/dev/null';
open STDERR, '>', '/dev/null';
psql("SELECT 1", "SELECT 1/0", "SELECT id FROM people WHERE id <= 2",
     "DROP TABLE people");
psql("SELECT 2");
open STDOUT, '>&', $saved;
open STDERR, '>&', $saved_err;

wait_until(sub { my $s = api('bob', '/sessions')->[1]{sessions};
                 @$s == 2 && $s->[0]{events} >= 4 && $s->[1]{events} >= 7 },
           "two sessions with their events");
my $l = api('bob', '/sessions');
my @s = @{ $l->[1]{sessions} };
out("sessions: $l->[0] " . scalar(@s) . ", events " . join ' ',
    map { $_->{events} } @s);
out("newest first: " . ($s[0]{last_event} >= $s[1]{last_event}
                        ? "yes" : "no"));
out("expired session in the index: "
    . (defined redis()->zscore('hoop:sessions', 'expired-session')
       ? "yes" : "no"));

my $p = api('bob', "/sessions/$s[1]{session_id}/events");
out("events: $p->[0] total=$p->[1]{total} next_cursor="
    . ($p->[1]{next_cursor} // 'null'));
for my $e (@{ $p->[1]{events} }) {
    out(join ' ', map { "$_=" . ($e->{$_} // '-') }
                  qw(type statement decision rows error));
}
my $t = $p->[1]{events};
out("same session: " . ((grep { $_->{session_id} ne $s[1]{session_id} }
                              @$t) ? "no" : "yes"));
out("in time order: " . ((grep { $t->[$_]{time} < $t->[$_ - 1]{time} }
                               1 .. $#$t) ? "no" : "yes"));
out("durations: " . ((grep { $_->{type} eq 'statement'
                             && ($_->{duration_ms} // '') !~ /^\d+$/ } @$t)
                     ? "missing" : "each statement"));

my $p1 = api('bob', "/sessions/$s[1]{session_id}/events?limit=3")->[1];
my $p2 = api('bob', "/sessions/$s[1]{session_id}/events?limit=3"
                    . "&cursor=$p1->{next_cursor}")->[1];
out("paged: " . join(' ', map { $_->{type} } @{ $p1->{events} }) . " | "
    . join(' ', map { $_->{type} } @{ $p2->{events} }));
my $none = api('bob', '/sessions/nosuchsession/events');
out("unknown session: $none->[0] $none->[1]{error}");
--- review_output
sessions: 200 2, events 4 7
newest first: yes
expired session in the index: no
events: 200 total=7 next_cursor=null
type=auth.ok statement=- decision=- rows=- error=-
type=session.open statement=- decision=- rows=- error=-
type=statement statement=SELECT $1 decision=allowed rows=1 error=-
type=statement statement=SELECT $1/$2 decision=allowed rows=0 error=22012
type=statement statement=SELECT id FROM people WHERE id <= $1 decision=allowed rows=2 error=-
type=statement statement=DROP TABLE people decision=denied rows=0 error=42501
type=session.close statement=- decision=- rows=- error=-
same session: yes
in time order: yes
durations: each statement
paged: auth.ok session.open statement | statement statement statement
unknown session: 404 no such session
--- no_error_log
[error]
