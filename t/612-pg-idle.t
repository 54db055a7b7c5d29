# Many idle connections through the Postgres gateway: the worker's memory
# per connection, measured (VmRSS before and after, diag'd) and bounded.
#
#  - 5,000 connections that have sent nothing yet (before the startup
#    packet): each holds its client buffer (hoop_pg_buffer_size, 16k) and a
#    pool; bound: 64 KB each.  Pages of the buffer a peer never writes are
#    not resident, so a second block fills 9,000 bytes of it in each of
#    2,000 connections (the most a peer can pin before it logs in): the
#    same bound holds.
#  - logged-in idle sessions with an upstream connection each: two buffers,
#    two pools, the upstream connection and the session's state; bound:
#    160 KB each.  Their number is bounded by PostgreSQL's max_connections
#    (200 in scripts/servers.sh, which other suites share): 150 here.
#
# nginx's connection array is allocated whole at start-up for
# worker_connections, so it is in the "before" figure: the growth measured
# is what a connection costs on top.
#
# Under a sanitizer (scripts/sanitize.sh sets HOOP_SANITIZER) the blocks
# are skipped: ASan's redzones and quarantine, or valgrind, would be what
# is measured, and 5,000 connections are too slow under valgrind.

use strict;
use warnings;

our ($kit, $token);

# the test process needs a descriptor per connection: on a box whose
# limit is lower, the count is scaled down (and said so) rather than failed
our $IDLE;
BEGIN {
    chomp(my $soft = `sh -c 'ulimit -n'`);
    $IDLE = $ENV{HOOP_IDLE_CONNECTIONS} || 5000;
    if ($soft ne 'unlimited' && $soft - 300 < $IDLE) {
        warn "t/612: open files limited to $soft here: $IDLE idle connections"
             . " scaled down to " . ($soft - 300) . "\n";
        $IDLE = $soft - 300;
    }
}
use constant IDLE => $IDLE;
use constant STALLED => $IDLE < 2000 ? $IDLE : 2000;
use constant SESSIONS => 150;

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $token = $kit->token(key => 'ec256', claims => { groups => ['sre'] });
}

use Test::Nginx::Socket 'no_plan';
use HoopPgWire ();
use HoopFault;

HoopFault::install();

repeat_each(1);
no_shuffle();
worker_connections(IDLE + 2000);

sub login { pg_login(user => 'trust', token => $::token, @_) }

add_block_preprocessor(sub {
    my ($block) = @_;

    return if defined $block->main_config;

    my $nofile = 2 * (IDLE + 2000);
    $block->set_value('main_config', <<"CONF");
worker_rlimit_nofile $nofile;
CONF
    $block->set_value('main_config', $block->main_config . <<'CONF');
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT backlog=8192;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl    disable;
        hoop_pg_startup_timeout 5m;
        hoop_pg_role trust user=app_trust database=hoop_test;
    }
}
CONF

    $block->set_value('no_error_log', "[alert]\n[crit]\n[emerg]\n");
});


run_tests();

__DATA__

=== TEST 1: 5,000 connections (fewer where the open files limit is lower) before their startup packet: all held, memory per connection bounded, a login still served
--- skip_eval: 4: $ENV{HOOP_SANITIZER}
--- fault
# warm up (first login loads what it loads lazily)
my $w = login();
query_ok($w, 'SELECT 1');
close $w;
sleep 0.3;
my ($fd0, $rss0) = (fd_count(), rss_kb());

my @socks;
push @socks, gw_connect() for 1 .. IDLE;
# the worker has accepted them all when it holds a descriptor each
wait_until(sub { fd_count() >= $fd0 + IDLE }, 'the accepts', 60);
sleep 0.3;
my $rss1 = rss_kb();
my $per = ($rss1 - $rss0) * 1024 / IDLE;
Test::More::diag(sprintf "%d idle pre-startup connections: RSS %d -> %d kB,"
                 . " %.0f bytes per connection", IDLE, $rss0, $rss1, $per);
out("held: ", fd_count() - $fd0 >= IDLE ? 'all' : fd_count() - $fd0);
out("under 64 KB each: ", $per < 64 * 1024 ? 'yes' : "no ($per bytes)");

my $s = login();
out("a login among them: ", join ' | ', query_ok($s, 'SELECT 6'));
close $s;

close $_ for @socks;
wait_until(sub { fd_count() == $fd0 }, 'the closes', 60);
out("fds back to baseline: yes");
--- fault_output
held: all
under 64 KB each: yes
a login among them: DataRow 6 | CommandComplete "SELECT 1"
fds back to baseline: yes
--- timeout: 120



=== TEST 2: 2,000 connections (or fewer, as above) that each sent 9,000 bytes of a startup packet and stalled (the most a peer pins before login): bounded too
--- skip_eval: 4: $ENV{HOOP_SANITIZER}
--- fault
my $w = login();
query_ok($w, 'SELECT 1');
close $w;
sleep 0.3;
my ($fd0, $rss0) = (fd_count(), rss_kb());
my $n = STALLED;
# a length of 9,008 announced, 9,000 bytes sent: the buffer is filled
my $partial = pack('N', 9008) . pack('N', 196608) . ('u' x 8992);
my @socks = map { my $s = gw_connect(); print {$s} $partial; $s } 1 .. $n;
wait_until(sub { fd_count() >= $fd0 + $n }, 'the accepts', 60);
sleep 0.5;
my $rss1 = rss_kb();
my $per = ($rss1 - $rss0) * 1024 / $n;
Test::More::diag(sprintf "%d stalled half-sent startups: RSS %d -> %d kB,"
                 . " %.0f bytes per connection", $n, $rss0, $rss1, $per);
out("under 64 KB each: ", $per < 64 * 1024 ? 'yes' : "no ($per bytes)");
close $_ for @socks;
wait_until(sub { fd_count() == $fd0 }, 'the closes', 60);
out("fds back to baseline: yes");
--- fault_output
under 64 KB each: yes
fds back to baseline: yes
--- timeout: 120



=== TEST 3: 150 logged-in idle sessions with an upstream each: memory per session bounded
--- skip_eval: 4: $ENV{HOOP_SANITIZER}
--- fault
my $w = login();
query_ok($w, 'SELECT 1');
close $w;
sleep 0.3;
my ($fd0, $rss0) = (fd_count(), rss_kb());

my @sessions = map { login() } 1 .. SESSIONS;
# each one has been used once, as a real idle session would have been
query_ok($_, 'SELECT 1') for @sessions;
out("upstream descriptors: ", fd_count() - $fd0 == 2 * SESSIONS
                              ? 'one per session' : fd_count() - $fd0);
my $rss1 = rss_kb();
my $per = ($rss1 - $rss0) * 1024 / SESSIONS;
Test::More::diag(sprintf "%d logged-in idle sessions: RSS %d -> %d kB,"
                 . " %.0f bytes per session", SESSIONS, $rss0, $rss1, $per);
out("under 160 KB each: ", $per < 160 * 1024 ? 'yes' : "no ($per bytes)");

close $_ for @sessions;
wait_until(sub { fd_count() == $fd0 }, 'the closes', 30);
out("fds back to baseline: yes");
--- fault_output
upstream descriptors: one per session
under 160 KB each: yes
fds back to baseline: yes
--- timeout: 120
