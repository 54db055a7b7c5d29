# Faults around the Postgres gateway: PostgreSQL restarted or down under
# live sessions, clients that vanish mid-query, mid-COPY and mid-TLS
# handshake, a client that trickles its startup packet.  Each time the
# client gets a clean error or a clean close (never a hang), the worker
# keeps serving, and its file descriptors come back to the baseline taken
# after a first warm-up session (lazily opened files are in it).
#
# The blocks stop and start the shared test PostgreSQL with pg_ctl, as
# scripts/servers.sh runs it; a block that fails half-way still leaves it
# running (see ensure_pg_up below).

use strict;
use warnings;

our ($kit, $token);

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

# helpers for the "--- fault" sections

sub login { pg_login(user => 'trust', token => $::token, @_) }

sub pg_up {
    return eval { pg_admin('SELECT 1') eq '1' };
}

sub pg_start {
    pg_ctl('start', '-w', '-t', '60', '-l',
           "$ENV{TEST_NGINX_STATE_DIR}/pg.log");
}

# backends of the gateway's upstream role doing something
sub backends {
    my ($like) = @_;
    return pg_admin("SELECT count(*) FROM pg_stat_activity"
                    . " WHERE usename = 'app_trust'"
                    . ($like ? " AND query LIKE '$like'" : ''));
}

# the warm-up session, then the baseline (nothing else is open then)
sub baseline {
    my $s = login();
    query_ok($s, 'SELECT 1 AS warm_up');
    print {$s} HoopPgWire::encode('Terminate');
    close $s;
    wait_until(sub { backends('%warm_up%') == 0 },
               'the warm-up backend to go');
    sleep 0.2;
    return fd_count();
}

sub back_to {
    my ($base) = @_;
    my $ok = eval { wait_until(sub { fd_count() == $base },
                               "fds back to $base"); 1 };
    return 'yes' if $ok;
    return 'no: ' . fd_count() . " != $base: " . join ' ', fd_targets();
}

# leave PostgreSQL running whatever a block did
add_response_body_check(sub {
    pg_start() if !pg_up();
});

add_block_preprocessor(sub {
    my ($block) = @_;

    return if defined $block->main_config;

    $block->set_value('main_config', <<'CONF');
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                     127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_ssl_certificate     $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
        hoop_pg_auth                oidc=test;
        hoop_pg_plaintext_login     on;
        hoop_pg_upstream_ssl        disable;
        hoop_pg_connect_timeout     3s;
        hoop_pg_startup_timeout     3s;
        hoop_pg_role trust user=app_trust database=hoop_test;
    }
}
CONF

    $block->set_value('no_error_log', "[alert]\n[crit]\n[emerg]\n")
        if !defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: PostgreSQL restarted under an idle and a busy session: both get the server's FATAL and a close, new sessions are served as soon as it is back
--- fault
my $base = baseline();
my $idle = login();
my $busy = login();
print {$busy} HoopPgWire::encode('Query "SELECT pg_sleep(60)"');
wait_until(sub { backends('SELECT pg_sleep(60)') == 1 },
           'the query to run');

pg_ctl('restart', '-m', 'fast', '-w', '-t', '60', '-l',
       "$ENV{TEST_NGINX_STATE_DIR}/pg.log");

out("busy: ", join ' | ', read_until($busy, '', 10));
out("idle: ", join ' | ', read_until($idle, '', 10));

# pg_ctl -w returned: PostgreSQL accepts connections, so must the gateway
my $new = login();
out("new session: ", join ' | ', query_ok($new, 'SELECT 2'));
close $new;
close $_ for $idle, $busy;
out("fds back to baseline: ", back_to($base));
--- fault_output
busy: RowDescription pg_sleep:void | ErrorResponse S=FATAL C=57P01 M="terminating connection due to administrator command" | EOF
idle: ErrorResponse S=FATAL C=57P01 M="terminating connection due to administrator command" | EOF
new session: DataRow 2 | CommandComplete "SELECT 1"
fds back to baseline: yes



=== TEST 2: PostgreSQL killed (immediate shutdown) mid-query, then down: a clean error for new logins, served again once it is back
--- fault
my $base = baseline();
my $busy = login();
print {$busy} HoopPgWire::encode('Query "SELECT pg_sleep(60)"');
wait_until(sub { backends('SELECT pg_sleep(60)') == 1 },
           'the query to run');

pg_ctl('stop', '-m', 'immediate', '-w', '-t', '60');

my @busy = read_until($busy, '', 10);
out("busy ends with: $busy[-1]");
out("busy got a FATAL or nothing: ",
    (grep { /^ErrorResponse/ && !/S=FATAL/ } @busy) ? "no: @busy" : 'yes');

# while it is down: the login is refused with a clear error, at once
my $s = gw_connect();
print {$s} HoopPgWire::encode('StartupMessage user=trust database=hoop_test');
read_until($s, 'R', 5);
print {$s} HoopPgWire::message('p', "$::token\0");
out("while down: ", join ' | ', read_until($s, '', 10));
close $s;

pg_start();
my $new = login();
out("back: ", join ' | ', query_ok($new, 'SELECT 3'));
close $new;
close $busy;
out("fds back to baseline: ", back_to($base));
--- fault_output
busy ends with: EOF
busy got a FATAL or nothing: yes
while down: ErrorResponse S=FATAL C=08006 M="the database server is unavailable" | EOF
back: DataRow 3 | CommandComplete "SELECT 1"
fds back to baseline: yes
--- error_log eval
qr/\[error\] .*hoop pg: .*connect\(\) .*failed \(111: Connection refused\)|\[error\] .*connect\(\) to 127\.0\.0\.1:\d+ failed \(111: Connection refused\)/



=== TEST 3: clients that vanish mid-query, mid-result and mid-COPY: upstream released, the worker keeps serving
--- fault
my $base = baseline();

# in a long query
my $a = login();
print {$a} HoopPgWire::encode('Query "SELECT pg_sleep(30) AS vanish_a"');
wait_until(sub { backends('%vanish_a%') == 1 }, 'the sleep to run');
close $a;
out("after a vanished sleeper: ", back_to($base));
# PostgreSQL itself notices only when the sleep ends (it does not poll
# idle sockets by default): end it here, it is not the gateway's to end
pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
         . " WHERE query LIKE '%vanish_a%' AND usename = 'app_trust'");

# in a big result: the server notices when its writes fail
my $b = login();
print {$b} HoopPgWire::encode(q{Query "SELECT repeat('x', 1000) AS vanish_b FROM generate_series(1, 2000000)"});
my ($type) = read_msg($b, 10);
out("result started: $type");
close $b;
out("after a vanished reader: ", back_to($base));
wait_until(sub { backends('%vanish_b%') == 0 }, 'the backend to end', 20);
out("its backend ended: yes");

# half-way through COPY FROM STDIN
my $c = login();
print {$c} HoopPgWire::encode('Query "COPY scratch FROM STDIN"');
my @l = read_until($c, 'GE', 10);
out("copy: $l[-1]");
print {$c} HoopPgWire::encode('CopyData "1\tvanish-c\n"')
           . substr(HoopPgWire::encode('CopyData "2\tvanish-c\n"'), 0, 7);
close $c;
out("after a vanished copier: ", back_to($base));
wait_until(sub { backends('COPY scratch FROM STDIN') == 0 },
           'the COPY backend to end', 20);
out("nothing copied: ", pg_admin("SELECT count(*) FROM scratch WHERE v = 'vanish-c'"));

my $d = login();
out("still serving: ", join ' | ', query_ok($d, 'SELECT 4'));
close $d;
out("fds back to baseline: ", back_to($base));
--- fault_output
after a vanished sleeper: yes
result started: T
after a vanished reader: yes
its backend ended: yes
copy: CopyInResponse text 2
after a vanished copier: yes
nothing copied: 0
still serving: DataRow 4 | CommandComplete "SELECT 1"
fds back to baseline: yes



=== TEST 4: clients that vanish mid-TLS handshake, or stall in it: closed, fds back to the baseline
--- fault
my $base = baseline();

# a ClientHello cut short, then gone
for my $i (1 .. 20) {
    my $s = gw_connect();
    print {$s} HoopPgWire::encode('SSLRequest');
    read_exactly_one($s) eq 'S' or die "no S\n";
    print {$s} pack('H*', '160301020001') . ('x' x 40);
    close $s;
}
out("after 20 torn handshakes: ", back_to($base));

# one that never finishes: the startup timeout (3s) closes it
my $t0 = time;
my $s = gw_connect();
print {$s} HoopPgWire::encode('SSLRequest');
read_exactly_one($s);
print {$s} pack('H*', '1603010200');
my $got = sysread($s, my $buf, 100);
out("stalled handshake closed: ", (defined $got && $got == 0 ? 'yes'
                                   : "no ($got)"));
close $s;

my $d = login();
out("still serving: ", join ' | ', query_ok($d, 'SELECT 5'));
close $d;
out("fds back to baseline: ", back_to($base));

sub read_exactly_one {
    my ($s) = @_;
    sysread($s, my $b, 1) == 1 or die "no answer\n";
    return $b;
}
--- fault_output
after 20 torn handshakes: yes
stalled handshake closed: yes
still serving: DataRow 5 | CommandComplete "SELECT 1"
fds back to baseline: yes
--- error_log
hoop pg: client timed out in the TLS handshake



=== TEST 5: a startup packet sent one byte a second is cut off by hoop_pg_startup_timeout, with a clear log line
--- fault
my $base = baseline();
my $s = gw_connect();
my $startup = HoopPgWire::encode('StartupMessage user=trust database=hoop_test');
my ($sent, @answer) = (0);
local $SIG{PIPE} = 'IGNORE';
for my $byte (split //, $startup) {
    last if !defined syswrite($s, $byte);
    $sent++;
    # anything (an error, or the close) ends the trickle
    my $sel = IO::Select->new($s);
    if ($sel->can_read(1)) {
        @answer = read_until($s, '', 5);
        last;
    }
}
out("cut off before the packet was complete: ",
    $sent < length $startup ? 'yes' : "no ($sent bytes)");
out("answer: ", join ' | ', @answer);
close $s;
out("fds back to baseline: ", back_to($base));
--- fault_output
cut off before the packet was complete: yes
answer: ErrorResponse S=FATAL C=08P01 M="timeout waiting for the startup packet" | EOF
fds back to baseline: yes
--- error_log
hoop pg: client timed out sending its startup packet
--- timeout: 30
