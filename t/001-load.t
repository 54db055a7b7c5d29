# Loading the four modules into Debian's nginx, and what a wrong
# load_module order says.
#
# This suite writes its own load_module lines: it takes the module paths
# from TEST_NGINX_LOAD_MODULES and then empties it, so each block can load
# the modules in the order it wants to test.

use strict;
use warnings;

BEGIN {
    my @so = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    my ($stream) = grep { m{/ngx_stream_module\.so$} } @so;
    my ($pg) = grep { m{/ngx_hoop_pg_module\.so$} } @so;

    die "TEST_NGINX_LOAD_MODULES must name ngx_stream_module.so and the "
        . "ngx_hoop modules\n" unless $stream && $pg;

    (my $dir = $pg) =~ s{/[^/]+$}{};

    $ENV{TEST_NGINX_STREAM_SO} = $stream;
    $ENV{TEST_NGINX_HOOP_SO_DIR} = $dir;
    $ENV{TEST_NGINX_LOAD_MODULES} = '';
}

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: all four modules load in the documented order
--- main_config
load_module $TEST_NGINX_STREAM_SO;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_auth_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_audit_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_mask_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_pg_module.so;
--- config
location = /t {
    return 200 "loaded\n";
}
--- request
GET /t
--- response_body
loaded
--- no_error_log
[emerg]
[alert]



=== TEST 2: the pg module before the stream module names what to load first
--- main_config
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_auth_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_audit_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_mask_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_pg_module.so;
load_module $TEST_NGINX_STREAM_SO;
--- config
--- must_die
--- error_log
ngx_hoop_pg_module.so needs ngx_stream_module: put "load_module modules/ngx_stream_module.so;" before "load_module modules/ngx_hoop_pg_module.so;"



=== TEST 3: the pg module without the auth module
--- main_config
load_module $TEST_NGINX_STREAM_SO;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_audit_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_mask_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_pg_module.so;
--- config
--- must_die
--- error_log
ngx_hoop_audit_module.so needs ngx_hoop_auth_module: put "load_module modules/ngx_hoop_auth_module.so;" before "load_module modules/ngx_hoop_audit_module.so;"



=== TEST 4: pg before mask
--- main_config
load_module $TEST_NGINX_STREAM_SO;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_auth_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_audit_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_pg_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_mask_module.so;
--- config
--- must_die
--- error_log
ngx_hoop_pg_module.so needs ngx_hoop_mask_module: put "load_module modules/ngx_hoop_mask_module.so;" before "load_module modules/ngx_hoop_pg_module.so;"



=== TEST 5: the pg module's directive works inside stream {} when loaded right
--- main_config
load_module $TEST_NGINX_STREAM_SO;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_auth_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_audit_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_mask_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_pg_module.so;
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- config
location = /t {
    return 200 "ok\n";
}
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]



=== TEST 6: hoop_pg and proxy_pass in one server conflict
--- main_config
load_module $TEST_NGINX_STREAM_SO;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_auth_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_audit_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_mask_module.so;
load_module $TEST_NGINX_HOOP_SO_DIR/ngx_hoop_pg_module.so;
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        proxy_pass 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- config
--- must_die
--- error_log
"hoop_pg" directive conflicts with another content handler
