# Where keys come from: OIDC discovery and JWKS URLs behind a real local
# HTTPS endpoint, JWKS files, key rotation without reload, the unknown-kid
# re-fetch rate limit, failing refreshes, certificate checks and bounds.
#
# The test nginx is the identity provider too: a second server block
# (TLS with the test PKI, $TEST_NGINX_IDP_PORT) serves the documents from
# html/idp/, and blocks rotate them between requests with a WebDAV PUT to
# /idp/ on the main server.  Every request the provider answers goes to
# logs/idp.log, which GET /idp-log returns: that is how a block counts
# fetches.

use strict;
use warnings;

use lib 't/lib';
use HoopToken;

our ($kit, $IDP, $ISS, $BIG_JWKS, $HUGE_JWKS);

BEGIN {
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;

    # the provider listens next to the test server unless told otherwise
    $ENV{TEST_NGINX_IDP_PORT} ||= $port + 1;

    $IDP = "https://127.0.0.1:$ENV{TEST_NGINX_IDP_PORT}";
    $ISS = "$IDP/realm";
    $ENV{TEST_NGINX_HOOP_ISS} = $ISS;

    $kit = HoopToken->new(issuer => $ISS);

    $kit->add_key('rsa1', type => 'RSA');
    $kit->add_key('ec', type => 'EC', curve => 'P-256', alg => 'ES256');

    # "rot" is published by a rotation; x1..x3 are never published
    for my $name (qw(rot x1 x2 x3)) {
        $kit->add_key($name, type => 'EC', curve => 'P-256', alg => 'ES256');
    }

    # ~40 KB: one RSA 4096 key under 55 kids (real providers publish a
    # few keys with certificate chains; the size is what matters here)
    $kit->add_key('big', type => 'RSA', bits => 4096, kid => 'big-54');
    $BIG_JWKS = $kit->jwks(map { $kit->jwk('big', kid => "big-$_") } 0 .. 54);

    die "the big JWKS is only " . length($BIG_JWKS) . " bytes\n"
        if length $BIG_JWKS < 40000;

    # over the 512 KB a document may have
    ($HUGE_JWKS = $kit->jwks('rsa1')) =~ s/\}$/,"pad":"${\('x' x 600000)}"}/;
}

use Test::Nginx::Socket 'no_plan';

sub bearer { "Authorization: Bearer $_[0]" }

sub discovery_doc {
    my (%over) = @_;
    my %doc = (issuer => $ISS, jwks_uri => "$IDP/jwks.json", %over);
    return '{' . join(',', map { qq{"$_":"$doc{$_}"} } sort keys %doc) . '}';
}

sub unknown_kid {
    return qq{WWW-Authenticate: Bearer realm="corp", error="invalid_token", }
           . qq{error_description="unknown kid"};
}

my ($MASTER, $WORKERS) = (master_process_enabled(), workers());

add_block_preprocessor(sub {
    my $block = shift;

    # --- hoop_workers: N runs the block with a master and N workers
    if (defined $block->hoop_workers) {
        master_on();
        workers($block->hoop_workers);

    } else {
        master_process_enabled($MASTER eq 'on');
        workers($WORKERS);
    }

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'_EOC_');
log_format hoop_idp '$request_method $uri $status';

# the identity provider
server {
    listen 127.0.0.1:$TEST_NGINX_IDP_PORT ssl;
    server_name idp;

    ssl_certificate $TEST_NGINX_PKI/gateway.crt;
    ssl_certificate_key $TEST_NGINX_PKI/gateway.key;

    root $TEST_NGINX_SERVER_ROOT/html/idp;
    default_type application/json;
    access_log $TEST_NGINX_SERVER_ROOT/logs/idp.log hoop_idp;

    # a provider that answers, slowly
    location /slow/ {
        alias $TEST_NGINX_SERVER_ROOT/html/idp/;
        limit_rate 100;
    }
}
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
# "return" runs before the access phase: answer from a named location
location = /t {
    hoop_auth oidc=corp;
    try_files /nonexistent @ok;
}

location @ok {
    return 200 "ok $hoop_user\n";
}

# the provider's documents: rewritten with PUT, also served over plain
# http here
location /idp/ {
    dav_methods PUT;
    default_type application/json;
    access_log $TEST_NGINX_SERVER_ROOT/logs/idp.log hoop_idp;
}

location = /idp-log {
    default_type text/plain;
    alias $TEST_NGINX_SERVER_ROOT/logs/idp.log;
}
_EOC_
    }

    # --- jwks and --- discovery: the provider's documents at start
    if (!defined $block->user_files) {
        my $jwks = $block->jwks // $kit->jwks('rsa1', 'ec');
        my $disc = $block->discovery // discovery_doc();

        $block->set_value('user_files', [
            [ 'idp/jwks.json', $jwks ],
            [ 'idp/realm/.well-known/openid-configuration', $disc ],
        ]);
    }

    if (!defined $block->request) {
        $block->set_value('request', 'GET /t');
    }
});

# --- wait_for_log: [N, qr/.../, ...]: after request N, wait (at most 10 s)
# until every pattern matches a line of error.log.  For what happens on a
# timer, such as a periodic refresh, without sleeping longer than needed.
add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;

    my $spec = $block->wait_for_log or return;
    my ($idx, @pats) = @$spec;

    return if $req_idx != $idx;

    my $log = server_root() . '/logs/error.log';
    my $text = '';

    for (1 .. 500) {
        if (open my $fh, '<', $log) {
            local $/;
            $text = <$fh>;
        }

        last if !grep { $text !~ $_ } @pats;

        select undef, undef, undef, 0.02;
    }

    for my $pat (@pats) {
        Test::More::like($text, $pat, $block->name
                         . " - error.log has $pat after request $idx");
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: discovery over https: keys fetched at start, a token verifies
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt;
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- response_body
ok alice
--- error_log eval
[
    qq{hoop_oidc "corp": fetching keys from $::ISS/.well-known/openid-configuration (start)},
    qq{hoop_oidc "corp": 2 keys from $::IDP/jwks.json, JWKS version 1},
]
--- no_error_log
[error]
[alert]



=== TEST 2: one fetch serves many requests and algorithms
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt;
--- request eval
["GET /t", "GET /t", "GET /idp-log"]
--- more_headers eval
[
    ::bearer($::kit->token(key => 'ec')),
    ::bearer($::kit->token(key => 'rsa1', claims => { sub => 'bob' })),
    "",
]
--- response_body eval
[
    "ok alice\n",
    "ok bob\n",
    "GET /realm/.well-known/openid-configuration 200\n"
    . "GET /jwks.json 200\n",
]
--- no_error_log
[error]



=== TEST 3: a JWKS URL by host name: SNI and the name checked
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=https://localhost:$TEST_NGINX_IDP_PORT/jwks.json
               ca=$TEST_NGINX_PKI/ca.crt;
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- response_body
ok alice
--- error_log eval
qq{hoop_oidc "corp": 2 keys from https://localhost:$ENV{TEST_NGINX_IDP_PORT}/jwks.json, JWKS version 1}
--- no_error_log
[error]



=== TEST 4: a new kid after the provider rotated: re-fetched, no reload
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt;
--- request eval
[
    "GET /t",
    "PUT /idp/jwks.json\n" . $::kit->jwks('rsa1', 'rot'),
    "GET /t",
    "GET /t",
    "GET /idp-log",
]
--- more_headers eval
[
    ::bearer($::kit->token(key => 'rsa1')),
    "",
    ::bearer($::kit->token(key => 'rot')),
    ::bearer($::kit->token(key => 'rsa1', claims => { sub => 'bob' })),
    "",
]
--- error_code eval
[200, 204, 200, 200, 200]
--- response_body eval
[
    "ok alice\n",
    "",
    "ok alice\n",
    "ok bob\n",
    "GET /realm/.well-known/openid-configuration 200\n"
    . "GET /jwks.json 200\n"
    . "PUT /idp/jwks.json 204\n"
    . "GET /realm/.well-known/openid-configuration 200\n"
    . "GET /jwks.json 200\n",
]
--- no_error_log
[error]



=== TEST 5: a burst of unknown kids costs one re-fetch (plain http URL)
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/jwks.json
               refetch_min=1h;
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /idp-log"]
--- more_headers eval
[
    ::bearer($::kit->token(key => 'rsa1')),
    ::bearer($::kit->token(key => 'x1')),
    ::bearer($::kit->token(key => 'x2')),
    ::bearer($::kit->token(key => 'x3')),
    "",
]
--- error_code eval
[200, 401, 401, 401, 200]
--- response_headers eval
["", ::unknown_kid(), ::unknown_kid(), ::unknown_kid(), ""]
--- response_body_like eval
[
    qr/^ok alice\n\z/,
    qr/401/,
    qr/401/,
    qr/401/,
    qr{^GET /idp/jwks\.json 200\nGET /idp/jwks\.json 200\n\z},
]
--- no_error_log
[error]



=== TEST 6: the periodic refresh fails: the last good keys stay
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt refresh=1s refetch_min=1h;
--- request eval
[
    "GET /t",
    "PUT /idp/jwks.json\n{\"keys\": [",
    "GET /t",
]
--- more_headers eval
[
    ::bearer($::kit->token(key => 'rsa1')),
    "",
    ::bearer($::kit->token(key => 'ec', claims => { sub => 'bob' })),
]
--- error_code eval
[200, 204, 200]
--- response_body eval
["ok alice\n", "", "ok bob\n"]
--- wait_for_log eval
[
    1,
    qr/hoop_oidc "corp": fetching keys from \S+ \(refresh\)/,
    qr/hoop_oidc "corp": JWKS from \Q$::IDP\E\/jwks\.json is not usable: the JWKS is not a JSON object; keeping the last good keys/,
]



=== TEST 7: a refresh that finds the same document keeps its version
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt refresh=1s;
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- response_body
ok alice
--- wait_for_log eval
[
    0,
    qr/hoop_oidc "corp": fetching keys from \S+ \(refresh\)/,
    qr/hoop_oidc "corp": JWKS from \Q$::IDP\E\/jwks\.json unchanged/,
]
--- no_error_log
JWKS version 2
[error]



=== TEST 8: the discovery document breaks at refresh: keys stay
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt refresh=1s;
--- request eval
[
    "GET /t",
    "PUT /idp/realm/.well-known/openid-configuration\n"
    . ::discovery_doc(issuer => 'https://evil.example/realm'),
    "GET /t",
]
--- more_headers eval
[
    ::bearer($::kit->token(key => 'rsa1')),
    "",
    ::bearer($::kit->token(key => 'rsa1', claims => { sub => 'bob' })),
]
--- error_code eval
[200, 204, 200]
--- response_body eval
["ok alice\n", "", "ok bob\n"]
--- wait_for_log eval
[
    1,
    qr/hoop_oidc "corp": discovery from \Q$::ISS\E\/\.well-known\/openid-configuration failed: its issuer "https:\/\/evil\.example\/realm" is not the configured "\Q$::ISS\E"; keeping the last good keys/,
]



=== TEST 9: an unreachable JWKS URL: 500, and the log says why
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=https://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks.json
               ca=$TEST_NGINX_PKI/ca.crt;
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- error_code: 500
--- error_log eval
qr/hoop_oidc "corp": JWKS fetch from https:\/\/127\.0\.0\.1:\d+\/jwks\.json failed: connect\(\) to 127\.0\.0\.1:\d+ failed \(\d+: Connection refused\); no keys yet/



=== TEST 10: a certificate not signed by a trusted CA (no ca=): 500
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on;
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- error_code: 500
--- error_log eval
qq{hoop_oidc "corp": discovery from $::ISS/.well-known/openid-configuration failed: certificate verify failed: unable to get local issuer certificate; no keys yet}



=== TEST 11: discovery naming another issuer is refused
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt;
--- discovery eval
::discovery_doc(issuer => 'https://evil.example/realm')
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- error_code: 500
--- error_log eval
qq{its issuer "https://evil.example/realm" is not the configured "$::ISS"; no keys yet}



=== TEST 12: an https issuer's jwks_uri over plain http is refused
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt;
--- discovery eval
::discovery_doc(jwks_uri => "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/idp/jwks.json")
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- error_code: 500
--- error_log
the issuer is https, its jwks_uri must be too; no keys yet



=== TEST 13: an HTTP error from the provider
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=https://127.0.0.1:$TEST_NGINX_IDP_PORT/nonexistent.json
               ca=$TEST_NGINX_PKI/ca.crt;
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- error_code: 500
--- error_log eval
qq{hoop_oidc "corp": JWKS fetch from $::IDP/nonexistent.json failed: HTTP status 404; no keys yet}



=== TEST 14: a provider too slow for fetch_timeout is cut off
--- skip_eval: 1: ($ENV{HOOP_SANITIZER} // '') eq 'valgrind'
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=https://127.0.0.1:$TEST_NGINX_IDP_PORT/slow/jwks.json
               ca=$TEST_NGINX_PKI/ca.crt fetch_timeout=1s;
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- error_code: 500
--- error_log eval
qq{hoop_oidc "corp": JWKS fetch from $::IDP/slow/jwks.json failed: reading the response timed out; no keys yet}



=== TEST 15: a JWKS of about 40 KB
--- skip_eval: 4: ($ENV{HOOP_SANITIZER} // '') eq 'valgrind'
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt;
--- jwks eval
$::BIG_JWKS
--- more_headers eval
::bearer($::kit->token(key => 'big'))
--- response_body
ok alice
--- error_log eval
qq{hoop_oidc "corp": 55 keys from $::IDP/jwks.json, JWKS version 1}
--- no_error_log
[error]



=== TEST 16: a JWKS over 512 KB is refused with a clear error
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt;
--- jwks eval
$::HUGE_JWKS
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- error_code: 500
--- error_log eval
qr/JWKS fetch from \Q$::IDP\E\/jwks\.json failed: the response body of \d+ bytes is larger than 524288 bytes; no keys yet/



=== TEST 17: fetches run in the "hoop" thread pool when it is declared
--- main_config
thread_pool hoop threads=2;
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt;
--- more_headers eval
::bearer($::kit->token(key => 'rsa1'))
--- response_body
ok alice
--- error_log
hoop_oidc "corp": fetches in thread pool "hoop"



=== TEST 18: two workers: one fetch at start, one re-fetch after rotation
--- hoop_workers: 2
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_PKI/ca.crt;
--- request eval
[
    ("GET /t") x 4,
    "PUT /idp/jwks.json\n" . $::kit->jwks('rsa1', 'rot'),
    ("GET /t") x 4,
    "GET /idp-log",
]
--- more_headers eval
[
    (map { ::bearer($::kit->token(key => 'rsa1', claims => { sub => "u$_" })) }
         1 .. 4),
    "",
    (map { ::bearer($::kit->token(key => 'rot', claims => { sub => "r$_" })) }
         1 .. 4),
    "",
]
--- error_code eval
[(200) x 4, 204, (200) x 5]
--- response_body eval
[
    (map { "ok u$_\n" } 1 .. 4),
    "",
    (map { "ok r$_\n" } 1 .. 4),
    "GET /realm/.well-known/openid-configuration 200\n"
    . "GET /jwks.json 200\n"
    . "PUT /idp/jwks.json 204\n"
    . "GET /realm/.well-known/openid-configuration 200\n"
    . "GET /jwks.json 200\n",
]
--- no_error_log
[error]



=== TEST 19: a JWKS file is read at start
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_SERVER_ROOT/html/idp/jwks.json;
--- more_headers eval
::bearer($::kit->token(key => 'ec'))
--- response_body
ok alice
--- no_error_log
[error]
fetching keys



=== TEST 20: a missing JWKS file fails the configuration
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_SERVER_ROOT/html/idp/nonexistent.json;
--- must_die
--- error_log eval
qr/\[emerg\] .*hoop_oidc "corp": cannot open the JWKS file "\S+\/html\/idp\/nonexistent\.json" \(2: No such file or directory\)/



=== TEST 21: a JWKS file that is not JSON fails the configuration
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_SERVER_ROOT/html/idp/jwks.json;
--- jwks
{"keys": [ {"kty": "RSA",
--- must_die
--- error_log eval
qr/\[emerg\] .*hoop_oidc "corp": the JWKS file "\S+\/html\/idp\/jwks\.json" has no usable key: the JWKS is not a JSON object/



=== TEST 22: a JWKS file with no signature key fails the configuration
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_SERVER_ROOT/html/idp/jwks.json;
--- jwks
{"keys": [{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}]}
--- must_die
--- error_log eval
qr/\[emerg\] .*hoop_oidc "corp": the JWKS file "\S+" has no usable key: /



=== TEST 23: a CA file that does not load fails the configuration
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop discovery=on
               ca=$TEST_NGINX_SERVER_ROOT/html/idp/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\] .*hoop_oidc "corp": cannot load the CA file "\S+\/html\/idp\/jwks\.json"/



=== TEST 24: credentials in a JWKS URL are refused
--- main_config
hoop_oidc corp issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=https://user:secret@127.0.0.1:$TEST_NGINX_IDP_PORT/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\] .*hoop_oidc "corp": bad JWKS URL: credentials in the URL are not supported/
--- no_error_log
secret
