# The review store (ngx_hoop_review.h) through "hoop_review hold", which
# makes each HTTP request wait for a review of its own exactly as a held
# statement does: the Redis hash, the indexes, the audit events and the
# PUBLISH of a new review; approve, reject, timeout and withdrawal; a
# decision made while the worker's subscriber was disconnected; Redis
# unreachable.
#
# A block's "--- review" section is Perl run once nginx is up (helpers in
# t/lib/HoopReview.pm); what it prints with out() must equal
# "--- review_output".  alice and bob are engineers, carol approves.

use strict;
use warnings;

use lib 't/lib';
use HoopReview;
use IO::Socket::INET;

BEGIN {
    HoopReview::setup();

    # a port nothing listens on: "Redis unreachable"
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no free port: $!\n";
    $ENV{TEST_NGINX_DEAD_PORT} = $s->sockport;
    close $s;

    $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                               Listen => 1) or die "no free port: $!\n";
    $ENV{TEST_NGINX_OWN_REDIS_PORT} //= $s->sockport;
    close $s;
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
hoop_audit_stream hoop:t410;
_EOC_
    }

    if (!defined $block->user_files) {
        $block->set_value('user_files', ">>> held/x\nran\n");
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a held request is recorded (hash, indexes, event, PUBLISH) and runs once approved
--- config
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held timeout=20s;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
--- review
ready();
clean_reviews();
redis()->del('hoop:t410');

my $sub = redis();
my @published;
$sub->subscribe('hoop:review:requested', sub { push @published, $_[0] });

my $held = hold_start('alice', '/held/x');
wait_until(sub { pending_ids() == 1 }, "the review");
my ($id) = pending_ids();
out("id: " . ($id =~ /^[A-Za-z0-9_-]{16}$/ ? "16 url-safe characters" : $id));

wait_until(sub { $sub->wait_for_messages(0.05); @published }, "the message");
out("published: " . ($published[0] eq $id ? "the id" : "@published"));

my %h = redis()->hgetall("hoop:review:$id");
out("$_=$h{$_}") for qw(state kind scope sub user email groups text rule
                        window);
out("expires - created: " . ($h{expires} - $h{created}));
out("in the index: " . (defined redis()->zscore('hoop:reviews', $id)
                        ? "yes" : "no"));
out("hash expires in: " . (redis()->ttl("hoop:review:$id") > 600000
                           ? "days" : "soon"));

my $r = api_post('carol', "/reviews/$id/approve", '{"comment":"ok, go"}');
out("approve: $r->[0] $r->[1]{state}");
my ($res) = hold_finish($held);
out("held request: $res");

%h = redis()->hgetall("hoop:review:$id");
out("$_=$h{$_}") for qw(state approver approver_user comment);
out("still pending: " . scalar pending_ids());

wait_until(sub { events('hoop:t410') >= 2 }, "two events");
for my $e (events('hoop:t410')) {
    out("event: $e->{type} state=$e->{state} review="
        . ($e->{review_id} eq $id ? "id" : "?") . " sub=$e->{sub}"
        . ($e->{approver} ? " approver=$e->{approver}"
                            . " comment=$e->{comment}" : ""));
}
--- review_output
id: 16 url-safe characters
published: the id
state=pending
kind=http
scope=held
sub=alice
user=alice
email=alice@example.com
groups=eng
text=GET /held/x
rule=hold
window=3600
expires - created: 20000
in the index: yes
hash expires in: days
approve: 200 approved
held request: 200 ran
state=approved
approver=carol
approver_user=carol
comment=ok, go
still pending: 0
event: review.requested state=pending review=id sub=alice
event: review.decided state=approved review=id sub=alice approver=carol comment=ok, go
--- no_error_log
[error]
[alert]



=== TEST 2: rejected: the held request gets 403 with the approver's comment
--- config
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held timeout=20s;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
--- review
ready();
clean_reviews();
my $held = hold_start('alice', '/held/x');
wait_until(sub { pending_ids() == 1 }, "the review");
my ($id) = pending_ids();

my $r = api_post('carol', "/reviews/$id/reject",
                 '{"comment":"not on a Friday"}');
out("reject: $r->[0] $r->[1]{state}");
my ($res) = hold_finish($held);
out("held request: " . ($res =~ s/\Q$id\E/ID/r));
out("state: " . redis()->hget("hoop:review:$id", 'state'));
--- review_output
reject: 200 rejected
held request: 403 {"error":"review rejected","review":"ID","reason":"not on a Friday"}
state: rejected
--- no_error_log
[error]
[alert]



=== TEST 3: nobody decides: the review expires (recorded in Redis and audited), 403
--- main_config
hoop_vault file=$TEST_NGINX_VAULT;
hoop_oidc test issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis
           connect_timeout=10s;
hoop_audit_stream hoop:t410:3;
hoop_review_timeout 1s;
--- config
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
--- review
ready();
clean_reviews();
redis()->del('hoop:t410:3');
my $held = hold_start('alice', '/held/x');
my ($res) = hold_finish($held);
out("held request: " . ($res =~ s/"review":"[^"]+"/"review":"ID"/r));
my ($id) = redis()->zrange('hoop:reviews', 0, -1);
out("state: " . redis()->hget("hoop:review:$id", 'state'));
out("pending: " . scalar pending_ids());
my $r = api_post('carol', "/reviews/$id/approve");
out("approve afterwards: $r->[0] $r->[1]{state}");
wait_until(sub { events('hoop:t410:3') >= 2 }, "two events");
out("events: " . join ' ', map { "$_->{type}/$_->{state}" }
                           events('hoop:t410:3'));
--- review_output
held request: 403 {"error":"review expired","review":"ID","reason":"the review timed out"}
state: expired
pending: 0
approve afterwards: 409 expired
events: review.requested/pending review.decided/expired
--- no_error_log
[error]
[alert]



=== TEST 4: the client goes away: the review is withdrawn (in Redis, audited) and cannot be approved
--- main_config
hoop_vault file=$TEST_NGINX_VAULT;
hoop_oidc test issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis
           connect_timeout=10s;
hoop_audit_stream hoop:t410:4;
--- config
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held timeout=20s;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
--- review
ready();
clean_reviews();
redis()->del('hoop:t410:4');
my $held = hold_start('alice', '/held/x');
wait_until(sub { pending_ids() == 1 }, "the review");
my ($id) = pending_ids();
close $held;
wait_until(sub { redis()->hget("hoop:review:$id", 'state') ne 'pending' },
           "the withdrawal");
my %h = redis()->hgetall("hoop:review:$id");
out("state=$h{state} reason=$h{reason}");
out("pending: " . scalar pending_ids());
my $r = api_post('carol', "/reviews/$id/approve");
out("approve afterwards: $r->[0] $r->[1]{state}");
wait_until(sub { events('hoop:t410:4') >= 2 }, "two events");
out("events: " . join ' ', map { "$_->{type}/$_->{state}"
                                 . ($_->{reason} ? "/$_->{reason}" : '') }
                           events('hoop:t410:4'));
--- review_output
state=withdrawn reason=client closed
pending: 0
approve afterwards: 409 withdrawn
events: review.requested/pending review.decided/withdrawn/client closed
--- no_error_log
[alert]



=== TEST 5: a decision made while the worker's subscriber was disconnected is picked up when it resubscribes
--- config
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held timeout=20s;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
--- review
ready();
clean_reviews();
my $held = hold_start('alice', '/held/x');
wait_until(sub { pending_ids() == 1 }, "the review");
my ($id) = pending_ids();

# The approver follows the protocol by hand (hash, pending index, PUBLISH)
# right after the worker's subscriber was cut: it reconnects after a
# back-off of 250 ms at least, so the PUBLISH reaches nobody.
my $r = redis();
$r->client_kill('TYPE', 'pubsub');
$r->multi;
$r->hset("hoop:review:$id", 'state', 'approved', 'approver', 'carol');
$r->zrem('hoop:reviews:pending', $id);
$r->publish('hoop:review:decided', $id);
my $x = $r->exec;
out("decided while the subscriber was away; the PUBLISH reached: $x->[2]");
my ($res) = hold_finish($held);
out("held request: $res");
--- review_output
decided while the subscriber was away; the PUBLISH reached: 0
held request: 200 ran
--- no_error_log
[alert]



=== TEST 6: Redis unreachable: held and gated requests fail closed with 503, the API too
--- main_config
hoop_vault file=$TEST_NGINX_VAULT;
hoop_oidc test issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
hoop_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT password=vault:redis;
--- config
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held;
}
location /gated/ {
    hoop_auth oidc=test;
    hoop_review name=gated;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
--- user_files
>>> held/x
ran
>>> gated/x
ran
--- review
my $r = get_as('alice', '/held/x');
out("held: $r->{status} $r->{content}");
$r = get_as('alice', '/gated/x');
out("gated: $r->{status} $r->{content}");
$r = api('carol', '/reviews');
out("api: $r->[0] $r->[1]{error}");
--- review_output
held: 503 {"error":"the review store is unavailable: the request is refused"}
gated: 503 {"error":"the review store is unavailable: the request is refused"}
api: 503 the review store is unavailable
--- error_log
hoop review: the review store is not connected



=== TEST 7: Redis goes away while a request is held: after the grace period it fails closed (503)
--- main_config
hoop_vault file=$TEST_NGINX_VAULT;
hoop_oidc test issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
hoop_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT password=vault:redis
           connect_timeout=10s;
--- config
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held timeout=60s;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
}
--- review
own_start();
# both connections of the store: commands and the subscriber
ready();
wait_until(sub { own_redis()->pubsub('NUMSUB', 'hoop:review:decided')->[1]
                 == 1 }, "the subscriber");
my $held = hold_start('alice', '/held/x');
wait_until(sub { own_redis()->zcard('hoop:reviews:pending') == 1 },
           "the review");
own_stop();
my ($res) = hold_finish($held);
out("held request: $res");
--- review_output
held request: 503 {"error":"the review store is unavailable: the request is refused"}
--- error_log
waiting reviews



=== TEST 8: a decision whose message never came is still seen (the worker re-reads what it waits for every 5 s)
--- config
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held timeout=30s;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
}
--- review
ready();
clean_reviews();
my $held = hold_start('alice', '/held/x');
wait_until(sub { pending_ids() == 1 }, "the review");
my ($id) = pending_ids();
# approved by hand, without a PUBLISH
redis()->hset("hoop:review:$id", 'state', 'approved', 'approver', 'carol');
redis()->zrem('hoop:reviews:pending', $id);
my ($res) = hold_finish($held);
out("held request: $res");
--- review_output
held request: 200 ran
--- no_error_log
[error]
