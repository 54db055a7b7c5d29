package Test::Nginx::Socket;

# ngx_hoop's own runner for the data-driven Test::Nginx::Socket block format.
#
# Test::Nginx lives on CPAN only and nothing can be downloaded when the
# project builds or tests, so this file implements the part of the format our
# suites use, on top of Debian's Test::Base.  The same .t files must keep
# passing under the upstream module, so section names, test counts, the shape
# of the generated nginx.conf and the extension points follow upstream's
# documented behaviour.  See the POD at the end for what is supported.

use strict;
use warnings;

# "-base" (lower case) makes us a Test::Base subclass without Spiffy's source
# filter, so the .t files get Test::Base's exports (plan, blocks, is, ...) plus
# ours, exactly as with upstream.
use Test::Base -base;

use File::Path qw(make_path remove_tree);
use File::Spec ();
use File::Temp ();
use HTTP::Response ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(min shuffle);
use POSIX qw(EAGAIN EINTR WNOHANG);
use Test::LongString ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    run_tests repeat_each no_shuffle log_level master_on master_off
    master_process_enabled workers worker_connections no_long_string
    no_root_location server_name server_addr server_root html_dir
    server_port server_port_for_client timeout env_to_nginx is_str
    config_preamble check_accum_error_log bail_out
    add_block_preprocessor add_response_body_check
    add_cleanup_handler add_test_cleanup_handler
);

# ---------------------------------------------------------------------------
# Settings: environment first, then the preamble functions below.

our $NginxBinary = $ENV{TEST_NGINX_BINARY} || find_in_path('nginx')
                   || '/usr/sbin/nginx';
our $ServerAddr = '127.0.0.1';
our $ServerName = 'localhost';
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Workers = 1;
our $WorkerConnections = 64;
our $RepeatEach = 1;
our $NoShuffle = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation = 0;
our $NoLongString = 0;
our $CheckAccumErrLog = 0;
our $ConfigPreamble = '';
our $UseValgrind = $ENV{TEST_NGINX_USE_VALGRIND};
our $LoadModules = $ENV{TEST_NGINX_LOAD_MODULES} // '';
our $NoClean = $ENV{TEST_NGINX_NO_CLEAN};
our $Verbose = $ENV{TEST_NGINX_VERBOSE};
our $Sleep = $ENV{TEST_NGINX_SLEEP} || 0.015;
our (@EnvToNginx, @BlockPreprocessors, @ResponseBodyChecks);
our (@CleanupHandlers, @TestCleanupHandlers);

our $RandPorts = {};       # $TEST_NGINX_RAND_PORT_N values of the current block
our $ErrLogPos = 0;        # error.log offset already looked at by the checks
our $NginxPid;             # set only when nginx is our child (valgrind)
our $MockPid;              # the tcp_listen mock server process

# Like upstream, TEST_NGINX_RANDOMIZE picks a free server port and a server
# root of its own, so several suites can run side by side.
if ($ENV{TEST_NGINX_RANDOMIZE}) {
    $ServerPort = $ServerPortForClient = pick_free_port({});
}

our $ServRoot = $ENV{TEST_NGINX_RANDOMIZE}
    ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : ($ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot'));
$ServRoot =~ s{/+$}{};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our $ConfDir = "$ServRoot/conf";
our $LogDir = "$ServRoot/logs";
our $HtmlDir = "$ServRoot/html";
our $ConfFile = "$ConfDir/nginx.conf";
our $PidFile = "$LogDir/nginx.pid";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";

# Suites written for upstream sometimes read these through Test::Nginx::Util.
{
    no strict 'refs';
    for my $var (qw(ServerPort ServerPortForClient ServerAddr ServRoot
                    RandPorts ErrLogFile PidFile RepeatEach NoLongString)) {
        *{"Test::Nginx::Util::$var"} = \${"Test::Nginx::Socket::$var"};
    }
}

# ---------------------------------------------------------------------------
# Preamble functions (called by .t files before run_tests).

sub repeat_each { $RepeatEach = shift if @_; return $RepeatEach }
sub no_shuffle { $NoShuffle = 1 }
sub log_level { $LogLevel = shift if @_; return $LogLevel }
sub master_on { $MasterProcess = 'on' }
sub master_off { $MasterProcess = 'off' }
sub master_process_enabled {
    $MasterProcess = $_[0] ? 'on' : 'off' if @_;
    return $MasterProcess;
}
sub workers { $Workers = shift if @_; return $Workers }
sub worker_connections { $WorkerConnections = shift if @_; return $WorkerConnections }
sub no_long_string { $NoLongString = 1 }
sub no_root_location { $NoRootLocation = 1 }
sub check_accum_error_log { $CheckAccumErrLog = 1 }
sub config_preamble { $ConfigPreamble = shift }
sub server_name { $ServerName = shift if @_; return $ServerName }
sub server_addr { $ServerAddr = shift if @_; return $ServerAddr }
sub server_port { $ServerPort = shift if @_; return $ServerPort }
sub server_port_for_client {
    $ServerPortForClient = shift if @_;
    return $ServerPortForClient;
}
sub server_root { return $ServRoot }
sub html_dir { return $HtmlDir }
sub timeout { $Timeout = shift if @_; return $Timeout }

sub env_to_nginx {
    for my $var (@_) {
        die "env_to_nginx: bad argument value: $var\n"
            if $var !~ /^[A-Za-z_]/ || $var =~ /\n/;
        push @EnvToNginx, $var;
    }
}

# Upstream runs the most recently added preprocessor first; so do we.
sub add_block_preprocessor { unshift @BlockPreprocessors, shift }
sub add_response_body_check { push @ResponseBodyChecks, shift }
sub add_cleanup_handler { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler { unshift @TestCleanupHandlers, shift }

sub is_str {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

sub bail_out {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# The main loop.

sub run_tests {
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_block($block);
        $_->($block) for @TestCleanupHandlers;
    }

    cleanup();
}

sub run_block {
    my ($block) = @_;
    my $name = $block->name;

    %$RandPorts = ();

    my ($skip_count, $skip_reason) = block_skip($block);
    if (defined $skip_count) {
        for (1 .. $RepeatEach) {
            SKIP: { Test::More::skip("$name - $skip_reason", $skip_count) }
        }
        return;
    }

    # A config that must fail is not worth valgrind's time (upstream agrees).
    local $UseValgrind = defined $block->must_die ? undef : $UseValgrind;

    # Every block gets a fresh server root, a fresh nginx.conf and a fresh
    # nginx, so blocks cannot leak state into each other.
    stop_nginx($name);
    setup_server_root();
    write_user_files($block);
    write_nginx_conf($block);

    if (defined $block->must_die) {
        run_must_die_block($block);
        return;
    }

    start_nginx($block) or return;

    if (defined $block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogPos = 0;
    for my $rep (0 .. $RepeatEach - 1) {
        my $mock = start_tcp_mock($block);
        run_requests($block, $rep);
        finish_tcp_mock($block, $mock);
    }

    stop_nginx($name, 1) unless $NoClean;
}

# skip_nginx ("N: < 1.21.0") and skip_eval ("N: perl-code") sections.
sub block_skip {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($count, $op, $reason) = ($1, $2, $6);
        my $wanted = canon_version($3, $4, $5);
        my $have = nginx_version();
        return ($count, $reason || "nginx version $op $3.$4.$5")
            if eval "$have $op $wanted";
    }

    if (defined(my $spec = $block->skip_eval)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)$/s
            or bail_out("$name - Invalid --- skip_eval spec: $spec");
        my ($count, $code) = ($1, $2);
        my $skip = eval $code;
        bail_out("$name - skip_eval - failed to eval \"$code\": $@") if $@;
        return ($count, 'skip_eval') if $skip;
    }

    return;
}

sub canon_version { return sprintf '%d.%03d%03d', @_ }

my $CachedNginxVersion;
sub nginx_version {
    return $CachedNginxVersion if defined $CachedNginxVersion;
    my $out = `$NginxBinary -V 2>&1`;
    $out =~ m{nginx/(\d+)\.(\d+)\.(\d+)}
        or bail_out("Failed to get the version of $NginxBinary: $out");
    return $CachedNginxVersion = canon_version($1, $2, $3);
}

# ---------------------------------------------------------------------------
# Server root, nginx.conf, nginx process.

sub setup_server_root {
    # Remove only what we create, so a mistaken TEST_NGINX_SERVROOT pointing
    # at real data does not get wiped.
    if (-d $ServRoot) {
        remove_tree($ConfDir, $LogDir, $HtmlDir, "$ServRoot/cache",
                    glob("$ServRoot/*_temp"));
    }
    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $dir;
        mkdir $dir or bail_out("Failed to mkdir $dir: $!");
    }
    write_file("$HtmlDir/index.html",
        '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

# user_files: ">>> name [date]" lines followed by the content, or an eval'd
# [[name, content, date], ...].  Relative names land in html/.
sub write_user_files {
    my ($block) = @_;
    my $files = $block->user_files;
    return if !defined $files;

    if (!ref $files) {
        my @parsed;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @parsed, [$1, '', $2];
            } elsif (@parsed) {
                $parsed[-1][1] .= $line;
            }
        }
        $files = \@parsed;
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) if !-d $dir;
        write_file($path, expand_env($body // '', $block->name));
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("Failed to set the date of $path");
        }
    }
}

sub write_nginx_conf {
    my ($block) = @_;
    my $name = $block->name;

    my $main_config = expand_env($block->main_config // '', $name);
    my $http_config = expand_env($block->http_config // '', $name);
    my $config = expand_env($block->config // '', $name);
    my $post_main_config = expand_env($block->post_main_config // '', $name);
    my $level = $block->log_level || $LogLevel;
    my $server_name = $block->server_name // $ServerName;

    # Under valgrind nginx must stay in the foreground as our child.
    my $daemon = $UseValgrind ? 'off' : 'on';

    # Debian's nginx keeps its temp dirs under /var/lib/nginx, which a
    # non-root runner cannot create: keep them in the server root.
    my $temp_paths = '';
    for my $kind (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $http_config =~ /\b${kind}_temp_path\b/;
        $temp_paths .= "    ${kind}_temp_path $ServRoot/${kind}_temp;\n";
    }

    my $load_modules = join '', map { "load_module $_;\n" } split ' ', $LoadModules;
    my $env_lines = join '', map { "env $_;\n" } @EnvToNginx;

    # As root, nginx would hand workers to "nobody", who cannot read the
    # server root; upstream says "user root;" in that case, and so do we.
    my $user = $> == 0 ? "user root;\n" : '';

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    write_file($ConfFile, <<"_EOC_");
$load_modules
worker_processes  $Workers;
daemon $daemon;
master_process $MasterProcess;
error_log $ErrLogFile $level;
pid       $PidFile;
$env_lines$user
$main_config

http {
    access_log $AccLogFile;
$temp_paths
    default_type text/plain;
    keepalive_timeout  68;

$http_config

    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

$ConfigPreamble
        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
_EOC_
}

# Expand $TEST_NGINX_* from the environment; $TEST_NGINX_RAND_PORT_N is a
# free port chosen once per block.  An unset variable stops the whole run,
# as upstream does: a silently empty port or path only hides the mistake.
sub expand_env {
    my ($text, $name) = @_;
    return $text if !defined $text || ref $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        $var =~ /^TEST_NGINX_RAND_PORT_\d+$/
            ? ($RandPorts->{$var} //= pick_free_port($RandPorts))
            : ($ENV{$var} // bail_out("$name - No environment $var defined.\n"));
    }ge;
    return $text;
}

sub pick_free_port {
    my ($taken) = @_;
    my %used = map { ($_ => 1) } $ServerPort, grep { defined } values %$taken;
    for (1 .. 1000) {
        # Below Linux's ephemeral range, so outgoing connections don't take it.
        my $port = 10000 + int rand 22000;
        next if $used{$port};
        my $sock = IO::Socket::INET->new(LocalAddr => $ServerAddr,
            LocalPort => $port, Proto => 'tcp', Listen => 1, ReuseAddr => 1);
        next if !$sock;
        close $sock;
        return $port;
    }
    bail_out("Cannot find a free port after 1000 tries");
}

sub nginx_command {
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile,
               # -e: what nginx logs before it reads our error_log directive
               # (a broken config) goes to the same file the checks read.
               '-e', $ErrLogFile);
    return @cmd if !$UseValgrind;

    my @opts;
    if ($UseValgrind =~ /^\d+$/) {
        @opts = qw(--tool=memcheck --leak-check=full --keep-debuginfo=yes
                   --show-possibly-lost=no --num-callers=100 -q
                   --gen-suppressions=all);
        my ($supp) = grep { -f } 'valgrind.suppress', 't/valgrind.suppress';
        push @opts, "--suppressions=$supp" if $supp;
    } else {
        @opts = split ' ', $UseValgrind;
    }
    return ('valgrind', @opts, @cmd);
}

# Runs nginx; returns the wait status when it ran in the foreground (daemon
# mode returns as soon as nginx has daemonized), or 0 for a valgrind child.
sub spawn_nginx {
    my ($block, $background) = @_;
    my @cmd = nginx_command();
    warn "$cmd[0] command: @cmd\n" if $Verbose;

    my $pid = fork // bail_out("fork() failed: $!");
    if ($pid == 0) {
        setpgrp;
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null' if defined $block->suppress_stderr;
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    if ($background) {
        $NginxPid = $pid;
        return 0;
    }
    waitpid $pid, 0;
    return $?;
}

sub start_nginx {
    my ($block) = @_;
    my $name = $block->name;

    if ($UseValgrind) {
        warn "$name\n";    # valgrind's reports follow on stderr
        spawn_nginx($block, 1);
        return 1;
    }

    # A previous nginx can still hold the port for a moment after it quit.
    my $deadline = time + 5;
    while (1) {
        my $status = spawn_nginx($block, 0);
        return 1 if $status == 0;
        my $log = slurp($ErrLogFile) // '';
        if ($log =~ /Address already in use/ && time < $deadline) {
            sleep 0.1;
            next;
        }
        Test::More::fail("$name - nginx failed to start (status $status):\n$log");
        return 0;
    }
}

sub run_must_die_block {
    my ($block) = @_;
    my $name = $block->name;
    my $expected = $block->must_die;

    $ErrLogPos = 0;
    for my $rep (0 .. $RepeatEach - 1) {
        my $status = spawn_nginx($block, 0);
        my $exit_code = $status >> 8;

        if ($status == -1 || $exit_code == 127) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($status & 127) {
            Test::More::fail("$name - nginx was killed by signal " . ($status & 127));
        } elsif ($expected =~ /^\s*(\d+)\s*$/) {
            Test::More::is($exit_code, $1, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        check_error_log($block, $rep);

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; killing it\n";
            stop_nginx($name, 1);
        }
    }
}

sub read_pid_file {
    # A daemonizing nginx writes its pid file just after the parent exits.
    for (1 .. 40) {
        my $pid = slurp($PidFile);
        return $1 if defined $pid && $pid =~ /(\d+)/;
        sleep 0.025;
    }
    return;
}

sub process_alive {
    my ($pid) = @_;
    if (defined $NginxPid && $pid == $NginxPid) {
        return waitpid($pid, WNOHANG) == 0;    # reap our own child
    }
    return 0 if !kill 0, $pid;
    # A daemonized nginx is not our child: once it exits it stays a zombie
    # until init reaps it, which some container inits do only now and then.
    my $stat = slurp("/proc/$pid/stat");
    return !(defined $stat && $stat =~ /^\d+ \(.*\) Z/s);
}

# Graceful QUIT first (lets nginx run its exit hooks, which valgrind's leak
# check needs), then TERM, then KILL of the whole process group.
sub stop_nginx {
    my ($name, $surely_started) = @_;
    my $pid = $NginxPid
        // (($surely_started || -f $PidFile) ? read_pid_file() : undef);
    return if !$pid;

    my $grace = $UseValgrind ? 30 : $Timeout;
    for my $signal (qw(QUIT TERM KILL)) {
        last if !process_alive($pid);
        kill $signal, $pid;
        kill KILL => -$pid if $signal eq 'KILL' && defined $NginxPid;
        my $until = time + ($signal eq 'QUIT' ? $grace : 1);
        sleep 0.02 while time < $until && process_alive($pid);
        warn "WARNING: $name - nginx $pid did not exit on $signal\n"
            if $signal ne 'QUIT' && process_alive($pid);
    }
    unlink $PidFile;
    undef $NginxPid;
}

sub cleanup {
    $_->() for @CleanupHandlers;
    stop_tcp_mock();
    stop_nginx('cleanup') unless $NoClean;
}

END {
    # The tcp mock child leaves with POSIX::_exit and never gets here.
    local $?;
    cleanup();
    remove_tree($ServRoot)
        if $ENV{TEST_NGINX_RANDOMIZE} && !$NoClean && $ServRoot =~ m{/t/servroot_\d+$};
}

# ---------------------------------------------------------------------------
# The tcp_listen mock backend: a forked process that accepts one connection,
# reads the query, sends tcp_reply and closes (unless tcp_no_close).

sub start_tcp_mock {
    my ($block) = @_;
    return if !defined $block->tcp_listen;
    my $name = $block->name;

    my $target = expand_env($block->tcp_listen, $name);
    my $reply = $block->tcp_reply;
    bail_out("$name - no --- tcp_reply specified but --- tcp_listen is specified")
        if !defined $reply;

    my $want_len = $block->tcp_query_len;
    $want_len //= length $block->tcp_query if defined $block->tcp_query;
    my $query_file = defined $want_len ? File::Temp::tmpnam() : undef;

    bail_out("$name - bad tcp_listen target: $target") if $target !~ /^\d+$/;
    my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $target, Proto => 'tcp', ReuseAddr => 1, Listen => 5)
        or bail_out("$name - failed to create the tcp listening socket: $!");

    my $pid = fork // bail_out("$name - fork() failed: $!");
    if ($pid == 0) {
        serve_tcp_mock($block, $listener, $reply, $want_len, $query_file);
        POSIX::_exit(0);    # no END blocks: they belong to the parent
    }
    $MockPid = $pid;
    return { listener => $listener, query_file => $query_file };
}

sub serve_tcp_mock {
    my ($block, $listener, $reply, $want_len, $query_file) = @_;
    my $client = $listener->accept or return;

    my $query = '';
    while (1) {
        my $n = sysread $client, my $buf, 4096;
        last if !$n;
        $query .= $buf;
        if (defined $query_file) {
            # rename() is atomic: the parent never sees a half-written file.
            write_file("$query_file.tmp", $query);
            rename "$query_file.tmp", $query_file;
        }
        # Without an expected length, one read is the query (as upstream).
        last if !$want_len || length $query >= $want_len;
    }

    if (my $delay = parse_time($block->tcp_reply_delay)) {
        sleep $delay;
    }
    $reply = $reply->($query) if ref $reply eq 'CODE';
    for my $chunk (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
        syswrite $client, $chunk if defined $chunk && length $chunk;
    }
    sleep 3600 if defined $block->tcp_no_close;    # killed by the parent
    close $client;
}

sub finish_tcp_mock {
    my ($block, $mock) = @_;
    return if !$mock;
    my $name = $block->name;

    my $query = slurp($mock->{query_file}) // '';
    if (defined $block->tcp_query) {
        is_str($query, $block->tcp_query, "$name - tcp_query ok");
    }
    if (defined $block->tcp_query_len) {
        Test::More::is(length $query, $block->tcp_query_len,
                       "$name - TCP query length ok");
    }
    unlink $mock->{query_file} if defined $mock->{query_file};
    stop_tcp_mock();
    close $mock->{listener};
}

sub stop_tcp_mock {
    return if !$MockPid;
    kill TERM => $MockPid;
    waitpid $MockPid, 0;
    undef $MockPid;
}

# ---------------------------------------------------------------------------
# Requests.

# Returns a list of requests; each request is a list of packets to write.
sub build_requests {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        return ref $raw eq 'ARRAY' ? ([@$raw]) : ([$raw]);
    }

    my $request = $block->request;
    bail_out("$name - no --- request or --- raw_request section") if !defined $request;
    my @requests = ref $request eq 'ARRAY' ? @$request : ($request);
    my $more_headers = $block->more_headers // '';

    my @built;
    for my $i (0 .. $#requests) {
        my $headers = ref $more_headers eq 'ARRAY' ? $more_headers->[$i] : $more_headers;
        bail_out("$name - --- more_headers lacks data for request $i") if !defined $headers;
        # Packet boundaries are only kept for raw_request arrays.
        my $one = ref $requests[$i] eq 'ARRAY'
            ? join('', map { ref $_ ? $_->{value} : $_ } @{ $requests[$i] })
            : $requests[$i];
        push @built, [build_http_request($name, $one, $headers)];
    }
    return @built;
}

# "GET /path [HTTP/1.x]" plus an optional body becomes a full request with
# Host, Connection: close and Content-Length added like upstream does.
sub build_http_request {
    my ($name, $request, $more_headers) = @_;

    1 while $request =~ s/^\s*#[^\n]*\n//s;    # leading comment lines
    $request =~ s/^\s+//;
    my ($first, $body) = split /\n/, $request, 2;
    $body //= '';
    my ($method, $uri, $version) = split ' ', $first // '';
    bail_out("$name - Request line should be non-empty") if !defined $method;
    $uri //= '/';
    $version //= 'HTTP/1.1';

    my ($headers, $chunked) = ('', 0);
    for my $line (split /\n+/, $more_headers) {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $headers .= "$key: $val\r\n";
    }

    my $implicit = '';
    $implicit .= "Host: $ServerName\r\n" if $headers !~ /^Host:/mi;
    $implicit .= "Connection: close\r\n" if $headers !~ /^Connection/mi;
    if (!$chunked && $body ne '' && $headers !~ /^Content-Length:/mi) {
        $body =~ s/^\s+|\s+$//g;
        $headers .= 'Content-Length: ' . length($body) . "\r\n";
    }
    return "$method $uri $version\r\n$implicit$headers\r\n$body";
}

sub run_requests {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my @requests = build_requests($block);
    my $need_array = @requests > 1;
    my $timeout = parse_time($block->timeout) // $Timeout;

    for my $i (0 .. $#requests) {
        my $raw = exchange($block, $requests[$i], $timeout);
        if (!defined $block->ignore_response) {
            my $is_head = $requests[$i][0] =~ /^\s*HEAD\s/;
            my ($res, $raw_headers) = defined $block->http09
                ? (HTTP::Response->new(200, 'OK', [], $raw), '')
                : parse_http_response($name, $raw, $is_head);
            check_response($block, $res, $raw_headers, $i, $rep, $need_array);
        }
        if ($i < $#requests) {
            sleep $block->wait if $block->wait;
            check_error_log($block, $rep);
        }
    }

    sleep $block->wait if $block->wait;
    check_error_log($block, $rep);
}

sub connect_to_server {
    my ($block, $timeout) = @_;
    my $addr = $block->server_addr_for_client // $ServerAddr;

    # nginx listens before it daemonizes, but under valgrind it needs time.
    my $deadline = time + ($UseValgrind ? 60 : 5);
    my $pause = 0.01;
    while (1) {
        my $sock = IO::Socket::INET->new(PeerAddr => $addr,
            PeerPort => $ServerPortForClient, Proto => 'tcp', Timeout => $timeout);
        return $sock if $sock;
        my $err = "$!";
        my $child_gone = defined $NginxPid && !process_alive($NginxPid);
        return (undef, "$addr:$ServerPortForClient: $err") if $child_gone || time > $deadline;
        sleep $pause;
        $pause = min($pause * 2, 0.25);
    }
}

# Writes the packets and reads until the server closes the connection or is
# silent for $timeout seconds (an idle timeout, as upstream).
sub exchange {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;

    my ($sock, $err) = connect_to_server($block, $timeout);
    if (!$sock) {
        Test::More::fail("$name - Can't connect to $err");
        return '';
    }
    local $SIG{PIPE} = 'IGNORE';    # a server that closes early is a result
    $sock->blocking(0);

    my @pending = @$packets;
    my $out = shift(@pending) // '';
    my $writing = 1;
    my $response = '';
    my $select = IO::Select->new($sock);

    while (1) {
        $! = 0;
        my ($readable, $writable) =
            IO::Select->select($select, $writing ? $select : undef, undef, $timeout);
        if (!$readable && !$writable) {
            next if $! == EINTR;
            Test::More::fail("ERROR: client socket timed out - $name")
                if !defined $block->abort;
            last;
        }

        if ($writable && @$writable) {
            my $n = length $out ? syswrite($sock, $out) : 0;
            if (!defined $n) {
                if ($! != EAGAIN) {
                    warn "WARNING: $name - write failed: $!\n";
                    $writing = 0;
                }
            } elsif (($out = substr $out, $n) eq '') {
                if (@pending) {
                    my $delay = $block->raw_request_middle_delay;
                    sleep $delay if $delay;
                    $out = shift @pending;
                } else {
                    $writing = 0;
                    if (defined(my $how = $block->shutdown)) {
                        shutdown $sock, ($how =~ /^\d+$/ ? $how : 1);
                    }
                }
            }
        }

        if ($readable && @$readable) {
            my $n = sysread $sock, my $buf, 65536;
            if (!defined $n) {
                next if $! == EAGAIN;
                warn "WARNING: $name - read failed: $!\n";
                last;
            }
            last if $n == 0;
            $response .= $buf;
        }
    }

    close $sock;
    return $response;
}

sub parse_http_response {
    my ($name, $raw, $is_head) = @_;
    my $raw_headers = $raw =~ /^(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    $res->code(undef) if defined $res->code && $res->code !~ /^\d+$/;

    my $code = $res->code // 0;
    return ($res, $raw_headers) if $code == 304 || $code == 101 || $is_head;

    my $encoding = $res->header('Transfer-Encoding');
    my $length = $res->header('Content-Length');
    if (defined $encoding && $encoding eq 'chunked') {
        my ($body, $error) = decode_chunked($res->content // '');
        Test::More::fail("$name - invalid chunked body received: $error") if $error;
        $res->content($body // '');
    } elsif (defined $length && $length =~ /^\d+$/) {
        my $content = $res->content // '';
        if (length $content < $length) {
            warn "WARNING: $name - response body truncated: $length expected, "
                 . "but got " . length($content) . "\n";
        } elsif (length $content > $length) {
            warn "WARNING: $name - unexpected extra bytes after the response body\n";
            $res->content(substr $content, 0, $length);
        }
    }
    return ($res, $raw_headers);
}

sub decode_chunked {
    my ($raw) = @_;
    my $body = '';
    my $at = 0;
    while ($raw =~ /\G[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/gc) {
        my $size = hex $1;
        return ($body, undef) if $size == 0;
        $at = pos $raw;
        return (undef, 'not enough octets for a chunk') if length($raw) < $at + $size + 2;
        $body .= substr $raw, $at, $size;
        pos($raw) = $at + $size;
        $raw =~ /\G\r\n/gc or return (undef, 'expected CRLF after a chunk');
    }
    return (undef, 'no last chunk found');
}

# ---------------------------------------------------------------------------
# Checks.  Sections may hold one value, or (several requests) one per request.

sub value_for_request {
    my ($name, $value, $i, $need_array) = @_;
    if (ref $value eq 'ARRAY') {
        return $value->[$i];
    }
    bail_out("$name - You asked for many requests, the expected results "
             . "should be arrays as well.") if $need_array;
    return $value;
}

sub check_response {
    my ($block, $res, $raw_headers, $i, $rep, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';

    if (defined $block->error_code_like) {
        my $pat = value_for_request($name, $block->error_code_like, $i, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } else {
        my $want = defined $block->error_code
            ? value_for_request($name, $block->error_code, $i, $need_array) : 200;
        Test::More::is($code, $want, "$name - status code ok");
    }

    if (defined $block->response_headers) {
        my $spec = value_for_request($name, $block->response_headers, $i, $need_array);
        for my $line (grep { /\S/ } split /\n/, $spec) {
            $line =~ s/^\s+|\s+$//g;
            if ($line =~ s/^!\s*//) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$line\E\s*:/mi,
                    "$name - header $line not present in the raw headers");
                next;
            }
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            $val = substitute_ports($val // '');
            Test::More::is($res->header($key) // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $spec = value_for_request($name, $block->response_headers_like, $i, $need_array);
        for my $line (grep { /\S/ } split /\n/, $spec) {
            $line =~ s/^\s+|\s+$//g;
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            Test::More::like($res->header($key) // '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }

    my $body = $res ? $res->content : undef;
    if (defined $block->response_body) {
        my $want = value_for_request($name, $block->response_body, $i, $need_array);
        $want = expand_env(substitute_ports($want), $name) if defined $want && !ref $want;
        is_str($body, $want, "$name - response_body - response is expected "
                             . "(repeated req $rep, req $i)");
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $like = defined $block->response_body_like;
        my $pat = value_for_request($name,
            $like ? $block->response_body_like : $block->response_body_unlike, $i, $need_array);
        $pat = substitute_ports($pat) if !ref $pat;
        my $check = $like ? \&Test::More::like : \&Test::More::unlike;
        my $summary = substr($body // '', 0, 200);
        $summary =~ s/\s+/ /g;
        $check->($body, qr/$pat/s, "$name - response_body_" . ($like ? 'like' : 'unlike')
                                   . " - response is expected ($summary)");
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $body, $i, $rep, undef);
    }
}

sub substitute_ports {
    my ($text) = @_;
    return $text if !defined $text;
    $text =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    $text =~ s/\$ServerPort\b/$ServerPort/g;
    return $text;
}

# error.log lines written since the last check (all of them with
# check_accum_error_log).  The short sleep lets log-phase lines land.
sub read_new_error_log_lines {
    sleep $Sleep * 3;
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if !$CheckAccumErrLog;
    my @lines = <$in>;
    $ErrLogPos = tell $in if !$CheckAccumErrLog;
    close $in;
    return \@lines;
}

# A section's patterns: lines of a plain section, or an eval'd qr// or array.
sub log_patterns {
    my ($value) = @_;
    return [$value] if ref $value eq 'Regexp';
    return [@$value] if ref $value eq 'ARRAY';
    chomp(my $text = $value);
    return [split /\n+/, $text];
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub show_chars {
    my ($text) = @_;
    chomp $text;
    $text =~ s/"/\\"/g;
    $text =~ s/\r/\\r/g;
    $text =~ s/\n/\\n/g;
    return $text;
}

sub check_error_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines = read_new_error_log_lines();
    my $mentioned = '';

    if (defined(my $grep = $block->grep_error_log)) {
        my $pat = ref $grep eq 'ARRAY' ? $grep->[$rep] : $grep;
        my $want = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            if !defined $want;
        $want = $want->[$rep] if ref $want eq 'ARRAY';
        $want = expand_env($want, $name);
        my $got = '';
        for my $line (@$lines) {
            my $matched = ref $pat ? ($line =~ $pat ? $& : undef)
                        : (index($line, $pat) >= 0 ? $pat : undef);
            $got .= "$matched\n" if defined $matched && $matched !~ /\n/;
        }
        is_str($got, $want, "$name - grep_error_log_out (req $rep)");
    }

    if (defined $block->error_log) {
        my $pats = log_patterns($block->error_log);
        $mentioned .= join ' ', @$pats;
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next if !defined $pat || !line_matches($line, $pat);
                Test::More::pass("$name - pattern \"$pat\" matches a line in error.log (req $rep)");
                undef $pat;
            }
        }
        for my $pat (grep { defined } @$pats) {
            Test::More::fail("$name - pattern \"$pat\" should match a line in error.log (req $rep)");
        }
    }

    if (defined $block->no_error_log) {
        my $pats = log_patterns($block->no_error_log);
        $mentioned .= join ' ', @$pats;
        my %found;
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next if !line_matches($line, $pat);
                $found{$pat} = 1;
                Test::More::fail("$name - pattern \"" . show_chars($pat) . "\" should not "
                    . "match any line in error.log but matches line \""
                    . show_chars($line) . "\" (req $rep)");
            }
        }
        for my $pat (grep { !$found{$_} } @$pats) {
            Test::More::pass("$name - pattern \"" . show_chars($pat)
                             . "\" does not match a line in error.log (req $rep)");
        }
    }

    # Loud but not failing, as upstream: serious lines nobody asked about.
    for my $level (qw(alert crit emerg)) {
        next if index($mentioned, "[$level") >= 0;
        for my $line (grep { /\[$level\]/ } @$lines) {
            warn "WARNING: $name - " . show_chars($line) . "\n";
        }
    }
}

# ---------------------------------------------------------------------------
# Small helpers.

sub parse_time {
    my ($value) = @_;
    return undef if !defined $value;
    return $1 / 1000 if $value =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $value =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $value;
}

sub find_in_path {
    my ($prog) = @_;
    for my $dir (split /:/, $ENV{PATH} // '') {
        return "$dir/$prog" if length $dir && -f "$dir/$prog" && -x _;
    }
    return undef;
}

sub slurp {
    my ($path) = @_;
    return undef if !defined $path;
    open my $in, '<', $path or return undef;
    binmode $in;
    local $/;
    return scalar <$in>;
}

sub write_file {
    my ($path, $content) = @_;
    open my $out, '>', $path or bail_out("Can't open $path for writing: $!");
    binmode $out;
    print {$out} $content;
    close $out or bail_out("Can't write $path: $!");
}

1;

__END__

=head1 NAME

Test::Nginx::Socket - ngx_hoop's runner for the Test::Nginx::Socket block format

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';

    repeat_each(2);
    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t { return 200 "hello\n"; }
    --- request
    GET /t
    --- response_body
    hello
    --- no_error_log
    [error]

Run with C<prove -I t/runner -I t/lib -r t/>; the same files run under the
upstream module with C<prove -I /path/to/test-nginx/lib -I t/lib -r t/>.

=head1 DESCRIPTION

Each block gets a fresh server root (C<t/servroot> or
C<TEST_NGINX_SERVROOT>), a generated F<conf/nginx.conf> shaped like
upstream's, and a fresh nginx started as
C<nginx -p SERVROOT/ -c conf/nginx.conf -e logs/error.log> (daemonized,
C<master_process off>, one worker) which is stopped (QUIT, then TERM, then
KILL) after the block.  The block's requests run C<repeat_each> times
against that nginx; every check is a Test::More test named
C<"t/file.t TEST n: title - what">.

Sections: C<main_config>, C<http_config>, C<config>, C<post_main_config>,
C<server_name>, C<request> (string, or an eval'd array of requests),
C<more_headers>, C<raw_request> (string or array of packets),
C<raw_request_middle_delay>, C<http09>, C<shutdown>, C<abort>, C<timeout>,
C<server_addr_for_client>, C<ignore_response>, C<error_code>,
C<error_code_like>, C<response_headers> (C<! Name> for absence),
C<response_headers_like>, C<response_body>
(string or qr//), C<response_body_like>, C<response_body_unlike>,
C<error_log>, C<no_error_log> (lines, or an eval'd qr// or array),
C<grep_error_log>, C<grep_error_log_out>, C<log_level>, C<wait>, C<init>,
C<user_files>, C<tcp_listen> (a port), C<tcp_query>, C<tcp_query_len>, C<tcp_reply>
(string, array or sub), C<tcp_reply_delay>, C<tcp_no_close>, C<must_die>
(optionally an exit code; C<error_log> is then matched against what nginx
logged while failing), C<suppress_stderr>, C<skip_nginx>, C<skip_eval>,
and Test::Base's C<ONLY>, C<SKIP>, C<LAST>.  Unknown sections are kept on the
block for preprocessors and body checks.

Environment: C<TEST_NGINX_BINARY> (default: C<nginx> in PATH, then
F</usr/sbin/nginx>), C<TEST_NGINX_LOAD_MODULES> (space separated paths,
emitted in order as C<load_module> lines at the top of nginx.conf),
C<TEST_NGINX_USE_VALGRIND> (1: memcheck with leak check, plus
C<--suppressions=valgrind.suppress> if that file is in the current
directory or F<t/>; any other value: the valgrind options),
C<TEST_NGINX_SERVROOT>, C<TEST_NGINX_NO_CLEAN> (leave nginx running after
the last block), C<TEST_NGINX_SERVER_PORT> / C<TEST_NGINX_PORT> (default
1984), C<TEST_NGINX_CLIENT_PORT>, C<TEST_NGINX_RANDOMIZE>,
C<TEST_NGINX_TIMEOUT>, C<TEST_NGINX_LOG_LEVEL>, C<TEST_NGINX_NO_SHUFFLE>,
C<TEST_NGINX_MASTER_PROCESS>, C<TEST_NGINX_VERBOSE>.  In config sections,
C<tcp_listen>, C<user_files>, C<response_body> and C<grep_error_log_out>,
C<$TEST_NGINX_FOO> expands to the environment variable (an unset one bails
out) and C<$TEST_NGINX_RAND_PORT_N> to a free port fixed for the block.

Differences from upstream worth knowing: the server listens on
C<127.0.0.1:PORT> rather than on all addresses; a block without C<config>
gets an empty one and its own nginx (upstream keeps the previous nginx);
nginx is stopped after each block rather than before the next; packet
boundaries inside one C<request> are not kept (use C<raw_request> arrays);
C<tcp_listen> takes a port only; C<pipelined_requests>,
C<response_body_filters>, HUP reload, stap, leak-check, benchmark, HTTP/2
and HTTP/3 modes and UDP mocks are not implemented.  C<$Test::Nginx::Util::ServerPort> and a few other upstream
globals are aliased for suites that read them.

=cut
