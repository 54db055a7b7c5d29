# hoop_credential: vaulted credentials injected into proxied requests.
# The last blocks combine it with hoop_auth (t/lib/HoopToken.pm mints the
# client's tokens).
#
# The upstream is the runner's tcp_listen mock, so --- tcp_query states the
# exact bytes nginx sent upstream: the credential is there, the client's
# Authorization is not.  Every block also checks that no secret value shows
# up in the debug-level error log (a preprocessor adds them to
# --- no_error_log) or in a response body.

use strict;
use warnings;

use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64);

use lib 't/lib';
use HoopToken;

our ($Token, $ApiKey, $Password, $Basic, $Multiline, @Secrets, $kit);

BEGIN {
    # for the blocks that combine hoop_auth and hoop_credential
    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_HOOP_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_HOOP_ISS} = $kit->issuer;

    my $rand = sub { join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 20 };

    # fresh values each run: finding one in a log cannot be a coincidence
    $Token = 'tok-' . $rand->();
    $ApiKey = 'key-' . $rand->();
    $Password = 'pw:/' . $rand->();
    $Multiline = 'ml-' . $rand->();
    $Basic = encode_base64("svc-billing:$Password", '');
    @Secrets = ($Token, $ApiKey, $Password, $Basic, $Multiline);

    my $dir = tempdir('hoop-t121-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $file = "$dir/vault.json";

    open my $fh, '>', $file or die "$file: $!";
    print {$fh} <<"_EOJ_";
{
    "billing_token": "$Token",
    "api_key": "$ApiKey",
    "billing_password": "$Password",
    "two_lines": "$Multiline\\nsecond line"
}
_EOJ_
    close $fh or die "$file: $!";
    chmod 0600, $file or die "$file: $!";

    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;

    $ENV{TEST_NGINX_HOOP_VAULT} = $file;
    $ENV{TEST_NGINX_UPSTREAM_PORT} = $port + 1;    # the tcp_listen mock
    $ENV{TEST_NGINX_DEAD_PORT} = $port + 2;        # nothing listens here
}

use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(sub {
    my ($block) = @_;

    my $main = $block->main_config // '';
    $block->set_value(main_config =>
        "hoop_vault file=\$TEST_NGINX_HOOP_VAULT;\n$main")
        unless $main =~ /hoop_vault/;

    my $no = $block->no_error_log;
    my @pats = !defined $no ? ()
             : ref $no eq 'ARRAY' ? @$no
             : ref $no ? ($no)
             : grep { length } split /\n+/, $no;
    $block->set_value(no_error_log => [@pats, @Secrets]);
});

add_response_body_check(sub {
    my ($block, $body, $req, $rep) = @_;
    my @leaked = grep { index($body // '', $_) >= 0 } @Secrets;
    Test::More::ok(!@leaked, $block->name . " - no secret in the response body"
                             . " (req $req)");
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Bearer credential replaces the client's Authorization
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:billing_token";
    add_header X-Client-Auth "[$http_authorization]" always;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /t
--- more_headers
Authorization: Bearer client-token
X-Trace: abc
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
X-Trace: abc\r
Authorization: Bearer $::Token\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- response_headers
X-Client-Auth: [Bearer client-token]
--- no_error_log
[error]



=== TEST 2: API key and Bearer, a POST body, client copies dropped in any case
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:billing_token";
    hoop_credential X-Api-Key vault:api_key;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
POST /t
hello=world
--- more_headers
Authorization: Basic Y2xpZW50OnB3
X-API-KEY: forged
x-api-key: forged-too
Content-Type: application/x-www-form-urlencoded
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"POST /t HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
Content-Length: 11\r
Content-Type: application/x-www-form-urlencoded\r
Authorization: Bearer $::Token\r
X-Api-Key: $::ApiKey\r
\r
hello=world"
--- tcp_reply eval
"HTTP/1.0 201 Created\r\nContent-Length: 8\r\n\r\ncreated\n"
--- error_code: 201
--- response_body
created
--- no_error_log
[error]



=== TEST 3: Basic credential from a user name and a vaulted password
--- config
location = /t {
    hoop_credential Authorization basic=svc-billing:vault:billing_password;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /t?a=1
--- more_headers
Authorization: Bearer client-token
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t?a=1 HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
Authorization: Basic $::Basic\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- no_error_log
[error]



=== TEST 4: proxy_request_buffering off: the body streams, the credential is there
--- config
location = /t {
    proxy_request_buffering off;
    hoop_credential X-Api-Key vault:api_key;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
PUT /t
0123456789abcdef
--- more_headers
Authorization: Bearer client-token
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"PUT /t HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
Content-Length: 16\r
X-Api-Key: $::ApiKey\r
\r
0123456789abcdef"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- no_error_log
[error]



=== TEST 5: variables, proxy_set_header, add_header and access_log never see the secret
--- http_config
log_format hoop_vars 'hoop-access auth=[$http_authorization] key=[$http_x_api_key]';
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:billing_token";
    hoop_credential X-Api-Key vault:api_key;
    proxy_set_header X-Copy "$http_authorization|$http_x_api_key";
    add_header X-Vars "[$http_authorization] [$http_x_api_key]" always;
    access_log logs/error.log hoop_vars;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /t
--- more_headers
Authorization: Bearer client-token
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t HTTP/1.0\r
X-Copy: Bearer client-token|\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
Authorization: Bearer $::Token\r
X-Api-Key: $::ApiKey\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- response_headers
X-Vars: [Bearer client-token] []
--- error_log
hoop-access auth=[Bearer client-token] key=[-]



=== TEST 6: an error page after a failed upstream sees only the client's header
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:billing_token";
    hoop_credential X-Api-Key vault:api_key;
    error_page 502 = /after-error;
    proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
}
location = /after-error {
    return 200 "auth=[$http_authorization] key=[$http_x_api_key]\n";
}
--- request
GET /t
--- more_headers
Authorization: Bearer client-token
--- response_body
auth=[Bearer client-token] key=[]
--- error_log
Connection refused



=== TEST 7: a retry on the next server of the upstream sends the credential again
--- http_config
upstream hoop_backend {
    server 127.0.0.1:$TEST_NGINX_DEAD_PORT;
    server 127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:billing_token";
    proxy_pass http://hoop_backend;
}
--- request
GET /t
--- more_headers
Authorization: Bearer client-token
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t HTTP/1.0\r
Host: hoop_backend\r
Connection: close\r
Authorization: Bearer $::Token\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- error_log eval
qr/connect\(\) failed \(111: Connection refused\) while connecting to upstream.*127\.0\.0\.1:$ENV{TEST_NGINX_DEAD_PORT}/



=== TEST 8: keepalive upstream over HTTP/1.1
--- http_config
upstream hoop_backend {
    server 127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
    keepalive 2;
}
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:billing_token";
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_pass http://hoop_backend;
}
--- request
GET /t
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t HTTP/1.1\r
Host: hoop_backend\r
Authorization: Bearer $::Token\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
--- response_body
ok
--- no_error_log
[error]



=== TEST 9: a location without hoop_credential on the same upstream is untouched
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:billing_token";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
location = /plain {
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /plain
--- more_headers
Authorization: Bearer client-token
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /plain HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
Authorization: Bearer client-token\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- no_error_log
[error]



=== TEST 10: credentials set at server level are inherited by locations
--- config
hoop_credential X-Api-Key vault:api_key;

location /api/ {
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
location /static/ {
    return 200 "static\n";
}
--- request
GET /api/v1/items
--- more_headers
Authorization: Bearer client-token
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /api/v1/items HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
X-Api-Key: $::ApiKey\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- no_error_log
[error]



=== TEST 11: hoop_credential off stops the inheritance
--- config
hoop_credential X-Api-Key vault:api_key;

location /public/ {
    hoop_credential off;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /public/x
--- more_headers
Authorization: Bearer client-token
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /public/x HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
Authorization: Bearer client-token\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- no_error_log
[error]



=== TEST 12: proxy_pass with variables is refused
--- config
location = /t {
    set $backend 127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
    hoop_credential Authorization "Bearer vault:billing_token";
    proxy_pass http://$backend;
}
--- must_die
--- error_log
[emerg]
"hoop_credential" needs "proxy_pass" with a fixed address or upstream name (no variables) in location "/t"



=== TEST 13: a content handler other than proxy_pass is refused
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:billing_token";
    fastcgi_pass 127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log
[emerg]
"hoop_credential" needs "proxy_pass" with a fixed address or upstream name (no variables) in location "/t"



=== TEST 14: a value without a vault reference is refused
--- config
location = /t {
    hoop_credential Authorization "Bearer literal-token";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log
[emerg]
"hoop_credential" value must reference a vault secret ("vault:NAME", optionally after a prefix such as "Bearer ")



=== TEST 15: headers that frame the request cannot carry a credential
--- config
location = /t {
    hoop_credential Content-Length vault:api_key;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log
[emerg]
"Content-Length" cannot carry a credential



=== TEST 16: the same header twice in one location
--- config
location = /t {
    hoop_credential X-Api-Key vault:api_key;
    hoop_credential x-api-key vault:billing_token;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log
[emerg]
duplicate credential header "x-api-key"



=== TEST 17: an unknown secret names the secret, never a value
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:billing_tokn";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 qr/vault secret "billing_tokn" not found \(looked in file "\Q$ENV{TEST_NGINX_HOOP_VAULT}\E"\)/]



=== TEST 18: a secret with a line break cannot go into a header
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:two_lines";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log
[emerg]
vault secret "two_lines" contains a control character and cannot be sent in a header
--- no_error_log
second line



=== TEST 19: the Basic form takes its password from the vault only
--- config
location = /t {
    hoop_credential Authorization basic=svc-billing:hunter2;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log
[emerg]
the password in "basic=svc-billing:..." must be a vault reference: "vault:NAME"



=== TEST 20: hoop_credential off together with credentials in one block
--- config
location = /t {
    hoop_credential off;
    hoop_credential X-Api-Key vault:api_key;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log
[emerg]
"hoop_credential off" and credentials in the same block



=== TEST 21: hoop_auth then hoop_credential: the upstream gets the vaulted token only
--- main_config
hoop_vault file=$TEST_NGINX_HOOP_VAULT;
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
--- config
large_client_header_buffers 4 16k;

location = /t {
    hoop_auth oidc=corp;
    hoop_credential Authorization "Bearer vault:billing_token";
    proxy_set_header X-User $hoop_user;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . $::kit->token(key => 'ec256')
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t HTTP/1.0\r
X-User: alice\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
Authorization: Bearer $::Token\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- no_error_log
[error]



=== TEST 22: a rejected token never reaches the upstream, with or without a credential
--- main_config
hoop_vault file=$TEST_NGINX_HOOP_VAULT;
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
--- config
location = /t {
    hoop_auth oidc=corp;
    hoop_credential Authorization "Bearer vault:billing_token";
    proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT;
}
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . $::kit->token(key => 'ec256', claims => { aud => 'elsewhere' })
--- error_code: 401
--- no_error_log
connect() failed
