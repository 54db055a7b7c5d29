# hoop_review in HTTP locations: a request without an approved review gets
# 403 naming the review and how to approve it; retries reuse the review;
# once approved the same identity passes for the window, another identity
# does not; the window ends.  Two nginx instances sharing one Redis see
# each other's decisions at once.
#
# A block's "--- review" section is Perl run once nginx is up
# (t/lib/HoopReview.pm).  alice and bob are engineers, carol approves.
# The second nginx listens on $TEST_NGINX_SECOND_PORT (20041 unless set).

use strict;
use warnings;

use lib 't/lib';
use HoopReview;

BEGIN {
    HoopReview::setup();
    $ENV{TEST_NGINX_SECOND_PORT} //= 20041;
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
hoop_audit_stream hoop:t430;
_EOC_
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: 403 with the review id and how to approve; retries reuse it; approved: the same identity passes, another does not; audited
--- config
location /admin/ {
    hoop_auth oidc=test;
    hoop_review api=/api/ window=1h;
    hoop_audit_http on;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
--- user_files
>>> admin/x
admin
--- review
ready();
clean_reviews();
redis()->del('hoop:t430');

my $r = get_as('alice', '/admin/x');
my $b = json($r->{content});
my $id = $b->{review};
out("first: $r->{status} header="
    . ($r->{headers}{'x-hoop-review'} eq $id ? "the id" : "?")
    . " " . ($r->{content} =~ s/\Q$id\E/ID/gr));
$r = get_as('alice', '/admin/x');
out("retry: $r->{status} same review: "
    . (json($r->{content})->{review} eq $id ? "yes" : "no"));
$r = get_as('bob', '/admin/x');
my $bob = json($r->{content})->{review};
out("bob: $r->{status} his own review: " . ($bob ne $id ? "yes" : "no"));
out("pending: " . scalar pending_ids());

$r = api_post('carol', "/reviews/$id/approve");
out("approve: $r->[0]");
$r = get_as('alice', '/admin/x');
out("alice after approval: $r->{status} $r->{content}");
$r = get_as('bob', '/admin/x');
out("bob after approval: $r->{status} review "
    . (json($r->{content})->{review} eq $bob ? "his own, still" : "?"));
my $ttl = redis()->ttl("hoop:grant:http:admin:alice");
out("grant lives for the window: " . ($ttl > 3500 && $ttl <= 3600
                                      ? "yes" : $ttl));
$r = get_as(undef, '/admin/x');
out("no token: $r->{status}");

wait_until(sub { events('hoop:t430') >= 9 }, "the events");
out("events: " . join ' ', map { $_->{type} eq 'http.request'
                                 ? "$_->{status}" : $_->{type} }
                           events('hoop:t430'));
--- review_output
first: 403 header=the id {"error":"review required","review":"ID","state":"pending","scope":"admin","approve":"POST /api/reviews/ID/approve"}
retry: 403 same review: yes
bob: 403 his own review: yes
pending: 2
approve: 200
alice after approval: 200 admin
bob after approval: 403 review his own, still
grant lives for the window: yes
no token: 401
events: review.requested 403 403 review.requested 403 review.decided 200 403 401
--- no_error_log
[error]



=== TEST 2: the window ends: the identity needs a new review
--- config
location /ops/ {
    hoop_auth oidc=test;
    hoop_review name=ops window=1s;
}
location /api/ {
    hoop_auth oidc=test;
    hoop_api;
    hoop_api_approvers sec;
}
--- user_files
>>> ops/x
ops
--- review
ready();
clean_reviews();
my $first = json(get_as('alice', '/ops/x')->{content})->{review};
api_post('carol', "/reviews/$first/approve");
out("approved: " . get_as('alice', '/ops/x')->{status});
wait_until(sub { !redis()->exists('hoop:grant:http:ops:alice') },
           "the end of the window");
my $r = get_as('alice', '/ops/x');
out("after the window: $r->{status} a new review: "
    . (json($r->{content})->{review} ne $first ? "yes" : "no"));
--- review_output
approved: 200
after the window: 403 a new review: yes
--- no_error_log
[error]



=== TEST 3: two nginx instances (the second with two workers) sharing one Redis: a decision on one reaches a request held on the other at once, and grants are shared
--- config
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held timeout=30s;
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
one
>>> gated/x
one
--- review
ready();
clean_reviews();
my $port = $ENV{TEST_NGINX_SECOND_PORT};
my $dir = second_start($port, <<'_EOC_');
location /held/ {
    hoop_auth oidc=test;
    hoop_review hold name=held timeout=30s;
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
_EOC_
my $ok = eval {
    ready($port);
    # every worker of both is subscribed: one here, two there
    wait_until(sub { redis()->pubsub('NUMSUB', 'hoop:review:decided')->[1]
                     >= 3 }, "three subscribers");
    for my $d (qw(held gated)) {
        mkdir "$dir/html/$d";
        open my $fh, '>', "$dir/html/$d/x" or die;
        print {$fh} "two\n";
        close $fh;
    }

    # held on the second, approved through the first
    my $held = hold_start('alice', '/held/x', $port);
    wait_until(sub { pending_ids() == 1 }, "the review");
    my ($id) = pending_ids();
    my $a = api_post('carol', "/reviews/$id/approve");
    out("approved on the first: $a->[0]");
    my ($res) = hold_finish($held);
    out("held on the second: $res");

    # held on the first, rejected through the second
    $held = hold_start('bob', '/held/x');
    wait_until(sub { pending_ids() == 1 }, "the review");
    ($id) = pending_ids();
    $a = api_post('carol', "/reviews/$id/reject", '{"comment":"no"}', $port);
    out("rejected on the second: $a->[0]");
    ($res) = hold_finish($held);
    out("held on the first: " . ($res =~ s/\Q$id\E/ID/r));

    # a grant approved through one is honoured by the other
    my $g = json(get_as('alice', '/gated/x', $port)->{content})->{review};
    out("gated on the second: review "
        . ($g =~ /^[A-Za-z0-9_-]{16}$/ ? "made" : "?"));
    out("the first sees the same review: "
        . (json(get_as('alice', '/gated/x')->{content})->{review} eq $g
           ? "yes" : "no"));
    api_post('carol', "/reviews/$g/approve");
    out("after approval: first " . get_as('alice', '/gated/x')->{status}
        . " " . get_as('alice', '/gated/x')->{content}
        . ", second " . get_as('alice', '/gated/x', $port)->{status}
        . " " . get_as('alice', '/gated/x', $port)->{content});
    1;
};
my $err = $@;
second_stop($dir);
die $err unless $ok;
--- review_output
approved on the first: 200
held on the second: 200 two
rejected on the second: 200
held on the first: 403 {"error":"review rejected","review":"ID","reason":"no"}
gated on the second: review made
the first sees the same review: yes
after approval: first 200 one, second 200 two
--- no_error_log
[error]



=== TEST 4: a subrequest into a hoop_review location is refused (it would otherwise bypass the review)
--- config
location /admin/ {
    hoop_auth oidc=test;
    hoop_review;
}
location /page/ {
    auth_request /admin/x;
}
--- user_files
>>> admin/x
admin
>>> page/x
page
--- review
my $r = get_as('alice', '/page/x');
out("through auth_request: $r->{status}");
--- review_output
through auth_request: 403
--- error_log
a subrequest to a location under hoop_review is refused
