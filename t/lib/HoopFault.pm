package HoopFault;

# Fault injection inside Test::Nginx blocks: a block's "--- fault" section
# is Perl run once nginx is up; what it prints with out() must equal
# "--- fault_output" (after $TEST_NGINX_* expansion).  The helpers below
# look at the nginx process (one process: the runner's default is
# master_process off, so the pid file names the process that serves),
# drive raw Postgres sessions through the gateway, and stop/start the
# test PostgreSQL the way scripts/servers.sh runs it.
#
# Only documented Test::Nginx extension points are used
# (add_block_preprocessor, add_response_body_check).

use strict;
use warnings;

use Exporter 'import';
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Test::More ();
use Time::HiRes qw(time sleep);
use HoopPgWire ();

our @EXPORT = qw(out wait_until nginx_pid fd_count fd_targets rss_kb
                 gw_connect pg_login read_msg read_until query_ok pg_ctl
                 pg_admin gw_port msg_text);

our @OUT;

sub out { push @OUT, join '', @_ }

# polls every 50 ms until the code returns true; dies after $secs (10)
sub wait_until {
    my ($code, $what, $secs) = @_;
    my $until = time + ($secs // 10);
    while (time < $until) {
        return 1 if eval { $code->() };
        sleep 0.05;
    }
    die "timed out waiting for $what\n";
}

sub servroot {
    return $ENV{TEST_NGINX_SERVROOT}
        // Test::Nginx::Socket::server_root();
}

sub nginx_pid {
    open my $fh, '<', servroot() . '/logs/nginx.pid'
        or die "no nginx pid file: $!\n";
    my ($pid) = <$fh> =~ /(\d+)/;
    return $pid;
}

sub fd_targets {
    my $pid = shift // nginx_pid();
    opendir my $dh, "/proc/$pid/fd" or die "/proc/$pid/fd: $!\n";
    return sort map { readlink("/proc/$pid/fd/$_") // '?' }
                grep { /^\d+$/ } readdir $dh;
}

sub fd_count { return scalar(my @fds = fd_targets(@_)) }

sub rss_kb {
    my $pid = shift // nginx_pid();
    open my $fh, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!\n";
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+) kB/ }
    die "no VmRSS for $pid\n";
}

sub gw_port { return $ENV{TEST_NGINX_PG_GW_PORT} }

sub gw_connect {
    my $port = shift // gw_port();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp',
                                  Timeout => 5)
        or die "connect to 127.0.0.1:$port: $!\n";
    return $s;
}

# one message as (type, payload); () on EOF; dies after $secs (10)
sub read_msg {
    my ($sock, $secs) = @_;
    my $head = read_exactly($sock, 5, $secs);
    return () if !defined $head;
    my ($type, $len) = unpack 'a N', $head;
    die "bad length $len in a '$type' message\n" if $len < 4;
    my $body = $len > 4 ? read_exactly($sock, $len - 4, $secs) : '';
    die "EOF inside a '$type' message\n" if !defined $body;
    return ($type, $body);
}

sub read_exactly {
    my ($sock, $n, $secs) = @_;
    my $buf = '';
    my $sel = IO::Select->new($sock);
    my $until = time + ($secs // 10);
    while (length $buf < $n) {
        my $left = $until - time;
        die "no answer within " . ($secs // 10) . " s\n"
            if $left <= 0 || !$sel->can_read($left);
        my $got = sysread $sock, $buf, $n - length $buf, length $buf;
        return undef if !$got;    # EOF or reset: the peer closed
    }
    return $buf;
}

# the transcript line of a message ("ErrorResponse S=FATAL C=...")
sub msg_text {
    my ($type, $body) = @_;
    my ($line) = HoopPgWire::decode(HoopPgWire::message($type, $body));
    return $line;
}

# reads until a message of one of the types (e.g. 'Z'); returns the lines
# read (the last one is that message, or "EOF")
sub read_until {
    my ($sock, $types, $secs) = @_;
    my @lines;
    while (1) {
        my ($type, $body) = read_msg($sock, $secs);
        if (!defined $type) { push @lines, 'EOF'; last }
        push @lines, msg_text($type, $body);
        last if index($types, $type) >= 0;
    }
    return @lines;
}

# a logged-in session through the gateway (plaintext login), ready for
# queries; dies with what the gateway said otherwise
sub pg_login {
    my (%o) = @_;
    my $s = gw_connect($o{port});
    print {$s} HoopPgWire::encode("StartupMessage user=$o{user} "
                                  . "database=" . ($o{database}
                                                   // 'hoop_test'));
    my @l = read_until($s, 'RE', $o{secs});
    die "login: @l\n" unless $l[-1] eq 'AuthenticationCleartextPassword';
    print {$s} HoopPgWire::message('p', "$o{token}\0");
    @l = read_until($s, 'ZE', $o{secs} // 20);
    die "login: @l\n" unless $l[-1] =~ /^ReadyForQuery/;
    return $s;
}

# a simple query; returns the DataRow/CommandComplete/Error lines
sub query_ok {
    my ($s, $sql, $secs) = @_;
    print {$s} HoopPgWire::message('Q', "$sql\0");
    return grep { !/^(?:RowDescription|ReadyForQuery)/ }
           read_until($s, 'Z', $secs);
}

# pg_ctl on the test PostgreSQL, as the user scripts/servers.sh runs it as
sub pg_ctl {
    my @cmd = ("/usr/lib/postgresql/15/bin/pg_ctl", '-D',
               "$ENV{TEST_NGINX_STATE_DIR}/pg", @_);
    unshift @cmd, 'runuser', '-u', 'hoop', '--' if $> == 0;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        chdir '/tmp';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    die "pg_ctl @_ failed: $?\n" if $?;
}

# psql -At as the superuser over the unix socket (trust)
sub pg_admin {
    my ($sql) = @_;
    open my $fh, '-|', '/usr/bin/psql', '-X', '-At', '-h',
        $ENV{TEST_NGINX_STATE_DIR}, '-p', $ENV{TEST_NGINX_PG_PORT}, '-U',
        'hoop', '-d', 'hoop_test', '-c', $sql
        or die "psql: $!\n";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\n\z//;
    return $out;
}

sub install {
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my ($block) = @_;
        return unless defined $block->fault;
        $block->set_value('config', ($block->config // '')
                          . "\nlocation = /hoop-fault { return 204; }\n");
        $block->set_value('request', 'GET /hoop-fault');
        $block->set_value('error_code', 204);
    });

    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
        return unless defined $block->fault;
        my $name = $block->name;
        if ($dry_run) {
            SKIP: { Test::More::skip("$name - fault: dry run", 1); }
            return;
        }
        @OUT = ();
        local $SIG{PIPE} = 'IGNORE';
        my $ok = eval "package main; no strict 'vars';\n" . $block->fault
                      . "\n;1";
        my $err = $@;
        my $got = join '', map { "$_\n" } @OUT;
        $got .= "died: $err" if !$ok && $err;
        my $want = $block->fault_output // '';
        $want =~ s/\$(TEST_NGINX_[A-Z0-9_]+)/$ENV{$1}/g;
        Test::More::is($got, $want, "$name - fault output");
    });
}

1;
