package HoopReview;

# Helpers for the review suites (t/410-review-store.t, t/420-api.t,
# t/430-http-review.t): identities, HTTP calls to the gateway under test,
# held requests on raw sockets, the shared test Redis, and a "--- review"
# block section: Perl run once nginx is up, whose out() lines must equal
# "--- review_output".
#
#   use lib 't/lib';
#   use HoopReview;           # before Test::Nginx::Socket: sets up keys
#   use Test::Nginx::Socket 'no_plan';
#   HoopReview::install();    # the section handlers
#   run_tests();

use strict;
use warnings;

use HoopToken;
use HTTP::Tiny;
use IO::Select;
use File::Temp ();
use IO::Socket::INET;
use JSON::PP ();
use Redis;

use Exporter 'import';
our @EXPORT = qw(out token api api_post get_as hold_start hold_finish
                 redis wait_until clean_reviews events pending_ids
                 json url second_start second_stop own_redis own_start
                 own_stop ready);

our ($kit, @OUT, $PW, $PORT);

sub setup {
    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_HOOP_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_HOOP_ISS} = $kit->issuer;

    open my $fh, '<', $ENV{TEST_NGINX_VAULT}
        or die "cannot read the vault $ENV{TEST_NGINX_VAULT}: $!\n";
    local $/;
    $PW = JSON::PP->new->decode(<$fh>)->{redis}
        // die "no \"redis\" secret in the vault\n";
}

sub out { push @OUT, join '', @_ }

# identities: alice and bob are engineers, carol approves (group "sec")
my %who = (
    alice => { email => 'alice@example.com', groups => ['eng'] },
    bob   => { email => 'bob@example.com',   groups => ['eng'] },
    carol => { email => 'carol@example.com', groups => ['sec', 'eng'] },
);

sub token {
    my ($name) = @_;
    my $c = $who{$name} // die "who is $name?\n";
    return $kit->token(claims => { sub => $name, %$c });
}

sub port { $PORT // $ENV{TEST_NGINX_SERVER_PORT} // 1984 }

sub url { "http://127.0.0.1:" . ($_[1] // port()) . $_[0] }

sub json { JSON::PP->new->canonical->decode($_[0]) }

sub http { HTTP::Tiny->new(timeout => 20) }

# GET as someone (undef: no token); returns HTTP::Tiny's response
sub get_as {
    my ($name, $path, $port) = @_;
    my %h = $name ? (Authorization => 'Bearer ' . token($name)) : ();
    my $res = http()->get(url($path, $port), { headers => \%h });
    $res->{content} =~ s/\n\z//;
    return $res;
}

# GET .../api<path> as someone: [status, decoded body]
sub api {
    my ($name, $path, $port) = @_;
    my $res = get_as($name, "/api$path", $port);
    my $body = eval { json($res->{content}) } // $res->{content};
    return [$res->{status}, $body];
}

sub api_post {
    my ($name, $path, $content, $port) = @_;
    my %h = $name ? (Authorization => 'Bearer ' . token($name)) : ();
    $h{'Content-Type'} = 'application/json' if defined $content;
    my $res = http()->post(url("/api$path", $port),
                           { headers => \%h,
                             defined $content ? (content => $content) : () });
    my $body = eval { json($res->{content}) } // $res->{content};
    return [$res->{status}, $body];
}

# a request that waits (hoop_review hold): sent now, read later
sub hold_start {
    my ($name, $path, $port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . ($port // port()))
        or die "connect: $!\n";
    print {$s} "GET $path HTTP/1.0\r\nHost: localhost\r\n"
               . "Authorization: Bearer " . token($name) . "\r\n\r\n";
    return $s;
}

# "status body" of a held request's response (20 s at most)
sub hold_finish {
    my ($s) = @_;
    my $sel = IO::Select->new($s);
    my $buf = '';
    while ($sel->can_read(20)) {
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }
    close $s;
    my ($status) = $buf =~ m{^HTTP/1\.\d (\d+)};
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    $body //= '';
    $body =~ s/\n\z//;
    return (($status // 'none') . " $body", $head // '');
}

sub redis {
    return Redis->new(server => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}",
                      password => $PW, reconnect => 0);
}

# polls (50 ms .. 20 s) until the code returns true; dies with $what
sub wait_until {
    my ($code, $what) = @_;
    for (1 .. 400) {
        return 1 if eval { $code->() };
        select undef, undef, undef, 0.05;
    }
    die "timed out waiting for $what\n";
}

# the gateway's review store is connected (its /api/ answers a listing)
sub ready {
    my ($port) = @_;
    wait_until(sub { api('carol', '/reviews?limit=1', $port)->[0] == 200 },
               "the review store to connect");
}

sub clean_reviews {
    my $r = redis();
    for my $pat ('hoop:review:*', 'hoop:reviews*', 'hoop:grant:*',
                 'hoop:session:*', 'hoop:sessions')
    {
        my @k = $r->keys($pat);
        $r->del(@k) if @k;
    }
}

sub pending_ids {
    my @ids = redis()->zrange('hoop:reviews:pending', 0, -1);
    return wantarray ? @ids : scalar @ids;
}

# the audit stream's entries as hashes, oldest first
sub events {
    my ($key) = @_;
    my @events;
    for my $entry (@{ redis()->xrange($key, '-', '+') }) {
        push @events, { @{ $entry->[1] } };
    }
    return @events;
}

# A second nginx (two workers) sharing the test Redis: "server { ... }" body, on
# $port; the same modules, vault and identity provider as the one under
# test.  Returns its prefix directory.
sub second_start {
    my ($port, $http) = @_;
    my $dir = File::Temp::tempdir('hoop-second-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    mkdir "$dir/$_" for qw(logs conf html);
    my $modules = join '', map { "load_module $_;\n" }
                           split ' ', $ENV{TEST_NGINX_LOAD_MODULES};
    open my $fh, '>', "$dir/conf/nginx.conf" or die "$dir: $!\n";
    print {$fh} <<"_EOC_";
$modules
worker_processes 2;
daemon on;
master_process on;
user root;
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;

hoop_vault file=$ENV{TEST_NGINX_VAULT};
hoop_oidc test issuer=$ENV{TEST_NGINX_HOOP_ISS} audience=hoop
               jwks=$ENV{TEST_NGINX_HOOP_JWKS};
hoop_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} password=vault:redis
           connect_timeout=10s;
hoop_audit_spool $dir/spool;

events { }

http {
    access_log off;
    server {
        listen 127.0.0.1:$port;
        root $dir/html;
        $http
    }
}
_EOC_
    close $fh;
    system($ENV{TEST_NGINX_BINARY}, '-p', "$dir/", '-c', "$dir/conf/nginx.conf",
           '-q') == 0 or die "the second nginx did not start\n";
    wait_until(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") },
               "the second nginx");
    return $dir;
}

sub second_stop {
    my ($dir) = @_;
    open my $fh, '<', "$dir/logs/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid;
    kill 'QUIT', $pid;
    wait_until(sub { !kill 0, $pid }, "the second nginx to stop");
}

# A redis-server of the suite's own, to stop while a review waits (never
# the shared test Redis): $ENV{TEST_NGINX_OWN_REDIS_PORT}, the vault's
# "redis" password.
our $OWN_DIR;

sub own_redis {
    return Redis->new(server => "127.0.0.1:$ENV{TEST_NGINX_OWN_REDIS_PORT}",
                      password => $PW, reconnect => 0);
}

sub own_up { eval { own_redis()->ping } ? 1 : 0 }

sub own_start {
    $OWN_DIR //= File::Temp::tempdir('hoop-own-redis-XXXXXX', TMPDIR => 1,
                                     CLEANUP => 1);
    open my $fh, '>', "$OWN_DIR/redis.conf" or die "$OWN_DIR: $!\n";
    chmod 0600, "$OWN_DIR/redis.conf";
    print {$fh} <<"_EOC_";
bind 127.0.0.1
port $ENV{TEST_NGINX_OWN_REDIS_PORT}
requirepass "$PW"
daemonize yes
pidfile $OWN_DIR/redis.pid
logfile $OWN_DIR/redis.log
dir $OWN_DIR
save ""
appendonly no
_EOC_
    close $fh;
    system('redis-server', "$OWN_DIR/redis.conf") == 0
        or die "redis-server failed (log: $OWN_DIR/redis.log)\n";
    wait_until(\&own_up, "our Redis to start");
}

sub own_stop {
    eval { own_redis()->shutdown };
    wait_until(sub { !own_up() }, "our Redis to stop");
}

END {
    eval { own_redis()->shutdown } if $OWN_DIR && own_up();
}

sub install {
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;

        return unless defined $block->review;

        $block->set_value('config', ($block->config // '')
                          . "\nlocation = /hoop-review-test { return 204; }\n");
        $block->set_value('request', 'GET /hoop-review-test');
        $block->set_value('error_code', 204);
    });

    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;

        return unless defined $block->review;

        my $name = $block->name;

        if ($dry_run) {
            SKIP: { Test::More::skip("$name - review: dry run", 1); }
            return;
        }

        @OUT = ();
        my $ok = eval "package main; " . $block->review;
        my $err = $@;
        my $got = join '', map { "$_\n" } @OUT;
        $got .= "died: $err" if !$ok && $err;

        my $want = $block->review_output // '';

        Test::More::is($got, $want, "$name - review output");
    });
}

1;
