# Self-tests of the Test::Nginx block runner, with stock nginx only.
#
# The same file must pass under t/runner (ours) and under upstream
# Test::Nginx, so it uses only documented sections and extension points.
# The last part runs a second, deliberately broken suite and checks that
# every kind of check can fail there.

use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;
use File::Temp qw(tempdir);
use File::Spec;

# A port for the stream server of TEST 12, fixed for the whole file so the
# block preprocessor below can point the client at it.
sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 1) or die "no free port: $!";
    return $sock->sockport;
}
$ENV{TEST_NGINX_STREAM_PORT} //= free_port();

$main::init_runs = 0;    # counted by the init section of TEST 10

# Debian builds the stream module as a dynamic module; load it unless the
# caller (the Makefile) already lists it in TEST_NGINX_LOAD_MODULES.
my $stream_so = $ENV{TEST_NGINX_STREAM_MODULE}
    // '/usr/lib/nginx/modules/ngx_stream_module.so';
my $http_client_port = server_port_for_client();

add_block_preprocessor(sub {
    my $block = shift;

    my $main = $block->main_config;
    if (defined $main && $main =~ /\bstream\s*\{/
        && ($ENV{TEST_NGINX_LOAD_MODULES} // '') !~ /ngx_stream_module/)
    {
        $block->set_value(main_config => "load_module $stream_so;\n$main");
    }

    # A custom section: the client talks to the stream server instead.
    server_port_for_client(defined $block->client_to_stream
                           ? $ENV{TEST_NGINX_STREAM_PORT} : $http_client_port);

    # A custom section expanded into a config, to prove preprocessors run
    # before the config is written.
    if (defined(my $text = $block->hello_location)) {
        chomp $text;
        $block->set_value(config => "location = /hello { return 200 \"$text\\n\"; }");
    }
});

# Records which repetitions each block's responses went through, and checks
# a custom section against the body.
my %seen_reps;
add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    (my $title = $block->name) =~ s/^.*?(TEST \d+):.*$/$1/;
    $seen_reps{$title}{$repeated_req_idx}++;

    if (defined(my $want = $block->body_length)) {
        is(length($body // ''), $want,
           $block->name . " - body_length (req $repeated_req_idx)");
    }
});

repeat_each(2);
no_shuffle();
run_tests();

# Every block ran twice (repeat_each), and the body check saw both runs.
# TEST 11 (must_die) sends no request and TEST 14 is skipped.
for my $test (1 .. 10, 12, 13, 15) {
    my $requests = $test == 4 ? 2 : 1;
    is_deeply($seen_reps{"TEST $test"}, {0 => $requests, 1 => $requests},
              "TEST $test went through repetitions 0 and 1");
}
is($main::init_runs, 1, "init of TEST 10 ran once (before both repetitions)");

run_failing_suite();

# ---------------------------------------------------------------------------
# A suite whose blocks must each fail (or pass) in a known way, run in a
# child perl with the same Test::Nginx on @INC, its own port and server root.
sub run_failing_suite {
    my $dir = tempdir(CLEANUP => 1);
    my $suite = File::Spec->catfile($dir, 'failing.t');
    open my $out, '>', $suite or die "$suite: $!";
    print {$out} failing_suite_text();
    close $out;

    (my $runner_lib = $INC{'Test/Nginx/Socket.pm'}) =~ s{/Test/Nginx/Socket\.pm$}{};
    local $ENV{TEST_NGINX_SERVROOT} = "$dir/servroot";
    local $ENV{TEST_NGINX_PORT} = free_port();
    local $ENV{TEST_NGINX_SERVER_PORT} = $ENV{TEST_NGINX_PORT};
    local $ENV{TEST_NGINX_NO_SHUFFLE} = 1;
    local $ENV{TEST_NGINX_CLIENT_PORT};
    local $ENV{TEST_NGINX_RANDOMIZE};
    local $ENV{TEST_NGINX_USE_VALGRIND};
    my $tap = `$^X -I$runner_lib $suite 2>&1`;

    my @expect_fail = (
        [qr/^not ok \d+ - \S+ TEST 1: [^\n]* - response_body - /m, 'a wrong response_body'],
        [qr/^not ok \d+ - \S+ TEST 2: [^\n]* - status code ok/m, 'a wrong error_code'],
        [qr/^not ok \d+ - \S+ TEST 3: [^\n]* - header X-Hoop ok/m, 'a wrong response header'],
        [qr/^not ok \d+ - \S+ TEST 4: [^\n]* - pattern [^\n]* should match a line/m, 'a missing error_log line'],
        [qr/^not ok \d+ - \S+ TEST 5: [^\n]* - pattern [^\n]* should not match any line/m,
         'a present no_error_log line'],
        [qr/^not ok \d+ - \S+ TEST 6: [^\n]* - tcp_query ok/m, 'a wrong tcp_query'],
        [qr/^not ok \d+ - \S+ TEST 7: [^\n]* - die as expected/m, 'a must_die config that starts'],
        [qr/^not ok \d+ - ERROR: client socket timed out - \S+ TEST 8: /m, 'a client timeout'],
        [qr/^not ok \d+ - \S+ TEST 9: [^\n]* - response_body_like - /m, 'a wrong response_body_like'],
        [qr/^not ok \d+ - \S+ TEST 10: [^\n]* - custom check$/m, 'a failing add_response_body_check'],
    );
    for my $case (@expect_fail) {
        my ($pattern, $desc) = @$case;
        like($tap, $pattern, "the runner reports $desc as a failure");
    }
    like($tap, qr/^ok \d+ - \S+ TEST 11: [^\n]* - response_body - /m,
         "the control block of the failing suite passes");
    unlike($tap, qr/^not ok \d+ - \S+ TEST 11:/m,
           "nothing in the control block fails");
}

sub failing_suite_text {
    return <<'_SUITE_';
use Test::Nginx::Socket 'no_plan';

add_response_body_check(sub {
    my ($block, $body) = @_;
    return if !defined $block->custom_want;
    is($body, $block->custom_want, $block->name . " - custom check");
});

log_level('info');
run_tests();

__DATA__

=== TEST 1: wrong body
--- config
    location = /t { return 200 "real\n"; }
--- request
GET /t
--- response_body
imagined

=== TEST 2: wrong status
--- config
    location = /t { return 403; }
--- request
GET /t
--- error_code: 200

=== TEST 3: wrong header
--- config
    location = /t { add_header X-Hoop yes; return 200 "x"; }
--- request
GET /t
--- response_headers
X-Hoop: no

=== TEST 4: missing error_log line
--- config
    location = /t { return 200 "x"; }
--- request
GET /t
--- error_log
this line is never logged

=== TEST 5: present no_error_log line
--- config
    location /t { root html; }
--- request
GET /t/missing.txt
--- error_code: 404
--- no_error_log
No such file or directory

=== TEST 6: the mock backend sees another query
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back;
    }
--- request
GET /t
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /elsewhere HTTP/1.0\r\n"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\n\r\nback"
--- response_body chomp
back

=== TEST 7: must_die but the config is fine
--- config
    location = /t { return 200; }
--- must_die
--- suppress_stderr

=== TEST 8: client timeout
--- config
    location = /t { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- request
GET /t
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply_delay: 2
--- tcp_reply eval
"HTTP/1.0 200 OK\r\n\r\nlate"
--- timeout: 300ms
--- ignore_response

=== TEST 9: a body that is not like the pattern
--- config
    location = /t { return 200 "apples\n"; }
--- request
GET /t
--- response_body_like: ^pears

=== TEST 10: a body check added by the suite
--- config
    location = /t { return 200 "abc"; }
--- request
GET /t
--- custom_want: xyz

=== TEST 11: control: passes
--- config
    location = /t { return 200 "fine\n"; }
--- request
GET /t
--- response_body
fine
--- no_error_log
[error]
_SUITE_
}

__DATA__

=== TEST 1: return, default status and default_type
--- config
    location = /t {
        return 200 "hello, $request_method $uri\n";
    }
--- request
GET /t
--- response_headers
Content-Type: text/plain
! X-Not-There
--- response_body
hello, GET /t
--- body_length: 14
--- no_error_log
[error]



=== TEST 2: status code, add_header and response_body_like
--- config
    location = /gone {
        add_header X-Hoop "gone-$status" always;
        return 410 "it went away\n";
    }
--- request
GET /gone
--- error_code: 410
--- response_headers
X-Hoop: gone-410
--- response_body_like: ^it went \w+$



=== TEST 3: more_headers reach nginx; Host defaults to localhost
--- config
    location = /echo {
        return 200 "host=$host foo=$http_x_foo agent=$http_user_agent\n";
    }
--- more_headers
X-Foo: bar baz
User-Agent: hoop-test
--- request
GET /echo
--- response_body
host=localhost foo=bar baz agent=hoop-test



=== TEST 4: two requests in one block; body gets a Content-Length
--- config
    location = /len {
        return 200 "len=$content_length method=$request_method\n";
    }
    location = /teapot {
        return 418 "short and stout\n";
    }
--- request eval
["POST /len\nhello world", "GET /teapot"]
--- error_code eval
[200, 418]
--- response_body_like eval
["^len=11 method=POST\$", "^short and stout\$"]



=== TEST 5: raw_request in packets, HTTP/0.9 response read raw
--- config
    location = /raw {
        return 200 "raw ok\n";
    }
--- raw_request eval
["GET /r", "aw\r\n"]
--- raw_request_middle_delay: 0.05
--- http09
--- response_body
raw ok



=== TEST 6: raw_request + http09 shows the status line and headers
--- config
    location = /t {
        add_header X-Raw yes;
        return 201 "made\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: example\r\n\r\n"
--- http09
--- response_body_like eval
qr{\AHTTP/1\.1 201 Created\r\n.*\r\nX-Raw: yes\r\n\r\nmade\n\z}s



=== TEST 7: error_log lines and eval'd patterns at log level notice
--- log_level: notice
--- config
    location = /old {
        rewrite_log on;
        rewrite ^/old$ /new last;
    }
    location = /new {
        return 200 "new\n";
    }
--- request
GET /old
--- response_body
new
--- error_log eval
[qr/\[notice\] .*"\^\/old\$" matches "\/old"/, 'rewritten data: "/new"']
--- no_error_log eval
[qr/\[(?:error|crit|alert|emerg)\]/, "warn"]



=== TEST 8: user_files are served from html/
--- config
    location /files/ {
        alias html/;
    }
--- user_files
>>> present.txt
I am here
--- request
GET /files/present.txt
--- response_body
I am here
--- no_error_log
[error]



=== TEST 9: tcp_listen mock backend behind proxy_pass
--- config
    location = /t {
        proxy_set_header Host backend;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back?q=1;
    }
--- request
GET /t
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /back?q=1 HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nX-Back: mock\r\nContent-Length: 12\r\n\r\nfrom mock!\r\n"
--- response_headers
X-Back: mock
--- response_body eval
"from mock!\r\n"



=== TEST 10: tcp_reply as a sub of the query; init runs before requests
--- init
$main::init_runs++;
--- config
    location /api/ {
        proxy_set_header Host api;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_3;
    }
--- request
GET /api/users?id=7
--- tcp_listen: $TEST_NGINX_RAND_PORT_3
--- tcp_query_len: 62
--- tcp_reply eval
sub {
    my $query = shift;
    my ($uri) = $query =~ m{^GET (\S+) HTTP/1\.0\r\n};
    return ["HTTP/1.0 200 OK\r\n\r\n", "upstream saw $uri"];
}
--- response_body: upstream saw /api/users?id=7



=== TEST 11: must_die with a broken directive
--- config
    location = /t {
        return a b c;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid number of arguments in "return" directive/



=== TEST 12: a stream server from main_config, spoken to raw
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_STREAM_PORT;
        return "stream on $server_port says hi\n";
    }
}
--- config
--- client_to_stream
--- raw_request eval
""
--- http09
--- response_body
stream on $TEST_NGINX_STREAM_PORT says hi



=== TEST 13: a preprocessor fills the config from a custom section
--- hello_location
preprocessed
--- request
GET /hello
--- response_body
preprocessed
--- no_error_log
[error]



=== TEST 14: skip_nginx skips on a version condition that holds
--- skip_nginx: 2: > 0.0.1
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
not reached



=== TEST 15: a missing file logs an error naming its path
--- config
    location /files/ {
        alias html/;
    }
--- request
GET /files/absent.txt
--- error_code: 404
--- response_body_like: 404 Not Found
--- error_log
html/absent.txt" failed (2: No such file or directory)
