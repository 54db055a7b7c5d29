# The audit trail of the Postgres gateway under load while Redis is killed
# (SIGKILL, no goodbye) and restarted: pgbench runs through the gateway
# with hoop_audit on; afterwards every statement pgbench counted has its
# event in the stream, and no event is missing or invented.
#
# Delivery is at least once (an XADD that Redis applied just before it was
# killed, but whose reply never came back, is spooled and replayed: see
# docs/audit.md): events are counted by their eid, and duplicates, if any,
# are reported, not hidden.
#
# Redis here is this suite's own (the shared test Redis is never killed),
# with appendfsync always, so what it acknowledged survives the kill.

use strict;
use warnings;

use File::Temp ();
use HTTP::Tiny ();
use IO::Socket::INET ();
use JSON::PP ();
use Redis ();

our ($kit, $token, $DIR, $PORT, $PW);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $token = $kit->token(key => 'ec256', claims => { sub => 'bench',
                                                     groups => ['sre'] });
    $DIR = File::Temp::tempdir('hoop-611-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $DIR;
    $ENV{TEST_NGINX_FAULT_DIR} = $DIR;
    $ENV{TEST_NGINX_AUDIT_STREAM} = "hoop:t611:$$";
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no free port: $!\n";
    $PORT = $ENV{TEST_NGINX_FAULT_REDIS_PORT} = $s->sockport;
}

use Test::Nginx::Socket 'no_plan';
use HoopFault;

HoopFault::install();

{
    open my $fh, '<', $ENV{TEST_NGINX_VAULT} or die "vault: $!\n";
    local $/;
    $PW = JSON::PP->new->decode(<$fh>)->{redis};
}

sub redis { Redis->new(server => "127.0.0.1:$PORT", password => $PW,
                       reconnect => 0) }

sub redis_up { return eval { redis()->ping } ? 1 : 0 }

sub redis_start {
    open my $fh, '>', "$DIR/redis.conf" or die "$DIR: $!\n";
    chmod 0600, "$DIR/redis.conf";
    print {$fh} <<"_EOC_";
bind 127.0.0.1
port $PORT
requirepass "$PW"
daemonize yes
pidfile $DIR/redis.pid
logfile $DIR/redis.log
dir $DIR
save ""
appendonly yes
appendfsync always
_EOC_
    close $fh;
    system('redis-server', "$DIR/redis.conf") == 0
        or die "redis-server failed (log: $DIR/redis.log)\n";
    wait_until(\&redis_up, 'Redis to start');
}

sub redis_kill {
    open my $fh, '<', "$DIR/redis.pid" or die "redis.pid: $!\n";
    my ($pid) = <$fh> =~ /(\d+)/;
    kill 'KILL', $pid;
    wait_until(sub { !redis_up() }, 'Redis to die');
    unlink "$DIR/redis.pid";
}

END { eval { redis()->shutdown } if $PORT && redis_up() }

sub status {
    my $res = HTTP::Tiny->new(timeout => 5)
        ->get('http://127.0.0.1:' . server_port() . '/status');
    die "status: $res->{status}\n" unless $res->{status} == 200;
    return JSON::PP->new->decode($res->{content});
}

redis_start();

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: pgbench through the gateway while Redis is killed and restarted: every statement's event arrives, once per eid
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_FAULT_REDIS_PORT password=vault:redis;
hoop_audit_spool $TEST_NGINX_FAULT_DIR/spool;
hoop_audit_stream $TEST_NGINX_AUDIT_STREAM;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl    disable;
        hoop_pg_role bench user=app_trust database=hoop_test;
        hoop_audit on;
    }
}
--- config
location = /status {
    hoop_audit_status;
}
--- fault
wait_until(sub { status()->{connected} }, 'the Redis connection');
redis()->del($ENV{TEST_NGINX_AUDIT_STREAM});

open my $sf, '>', "$DIR/bench.sql" or die;
print {$sf} "SELECT 1 AS n611;\n";
close $sf;

my $pid = open(my $bench, '-|') // die "fork: $!\n";
if ($pid == 0) {
    open STDERR, '>&', \*STDOUT;
    $ENV{PGPASSWORD} = $::token;
    exec('pgbench', '-n', '-h', '127.0.0.1', '-p', gw_port(), '-U', 'bench',
         '-c', '4', '-j', '2', '-T', '8', '-f', "$DIR/bench.sql", 'hoop_test')
        or POSIX::_exit(127);
}

# kill Redis while statements flow, keep it away, bring it back
sleep 2;
redis_kill();
my $while_down = status()->{spooled};
sleep 2;
redis_start();

local $/;
my $report = <$bench>;
close $bench;
out("pgbench exit: ", $? >> 8);
my ($n) = $report =~ /number of transactions actually processed: (\d+)/
    or die "no transaction count in:\n$report";
my ($failed) = $report =~ /number of failed transactions: (\d+)/;
out("failed transactions: ", $failed // 0);

# everything the worker holds (queue, spool) reaches Redis
wait_until(sub { my $s = status();
                 $s->{connected} && !$s->{worker}{queued}
                 && !$s->{worker}{spool_files} }, 'the replay', 60);
my $s = status();

my (%eid, %type, %text, $stmts, $dups, %by_session);
for my $e (@{ redis()->xrange($ENV{TEST_NGINX_AUDIT_STREAM}, '-', '+') }) {
    my %f = @{ $e->[1] };
    $dups++ if $eid{ $f{eid} }++;
    next if $eid{ $f{eid} } > 1;
    push @{ $by_session{ $f{session_id} } }, $f{eid};
    $type{ $f{type} }++;
    $text{ $f{statement} }++ if $f{type} eq 'statement';
    $stmts++ if $f{type} eq 'statement' && $f{statement} =~ /\bn611\b/;
}
Test::More::diag("$n transactions; while Redis was down $while_down events"
                 . " spooled; counters: sent=$s->{sent}"
                 . " spooled=$s->{spooled} replayed=$s->{replayed}"
                 . " dropped=$s->{dropped}; duplicates in the stream: "
                 . ($dups // 0));
out("some events went through the spool: ", $s->{spooled} > 0 ? 'yes' : 'no');
out("statement events (distinct) = transactions: ",
    $stmts == $n ? 'yes' : "no ($stmts events, $n transactions)");
out("statement texts: ", join ' | ', sort keys %text);
# pgbench opens one connection of its own before its 4 clients
out("sessions: auth.ok=$type{'auth.ok'} session.open=$type{'session.open'} session.close=$type{'session.close'}");
out("other events: ", join(',', grep { !/^(auth\.ok|session\.open|session\.close|statement)$/ }
                                sort keys %type) || 'none');
out("dropped: $s->{dropped}");

# each session's own list (hoop_api's replay) holds the same events in the
# same order as the stream, repeats aside
my @differ;
for my $sid (sort keys %by_session) {
    my (%seen, @list);
    for my $payload (redis()->lrange("hoop:session:$sid", 0, -1)) {
        # netstrings: length ":" bytes ",", names and values in turn
        my @kv;
        while ($payload =~ /\G(\d+):/gc) {
            push @kv, substr($payload, pos($payload), $1);
            pos($payload) += $1 + 1;
        }
        my %f = @kv;
        push @list, $f{eid} if defined $f{eid} && !$seen{ $f{eid} }++;
    }
    push @differ, $sid if "@list" ne "@{ $by_session{$sid} }";
    redis()->del("hoop:session:$sid");
}
out("session lists as the stream: ",
    @differ ? "no (" . join(',', @differ) . ")" : "yes, "
              . scalar(keys %by_session) . " sessions");
redis()->del($ENV{TEST_NGINX_AUDIT_STREAM});
--- fault_output
pgbench exit: 0
failed transactions: 0
some events went through the spool: yes
statement events (distinct) = transactions: yes
statement texts: SELECT $1 AS n611;
sessions: auth.ok=5 session.open=5 session.close=5
other events: none
dropped: 0
session lists as the stream: yes, 5 sessions
--- error_log
hoop redis: connection to 127.0.0.1:
--- no_error_log
[alert]
[crit]
--- timeout: 120
