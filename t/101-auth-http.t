# HTTP access with hoop_auth: RFC 6750 challenges, hoop_auth_require,
# satisfy, the $hoop_* variables, what reaches the upstream, key-source
# failures and the verification cache.

use strict;
use warnings;

use lib 't/lib';
use HoopToken;
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use POSIX ();
use JSON::PP ();

our ($kit, $FULL, $JWKS_TEXT);

BEGIN {
    $kit = HoopToken->standard;

    $ENV{TEST_NGINX_HOOP_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_HOOP_ISS} = $kit->issuer;

    $JWKS_TEXT = $kit->jwks;
}

# A JWKS endpoint that answers after a delay, listening before any nginx of
# this file starts: a worker begins its first fetch as it starts, before a
# block's tcp_listen mock would be up.
our $SLOW_JWKS_PID;

BEGIN {
    my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                         LocalPort => 0, Proto => 'tcp',
                                         Listen => 16, ReuseAddr => 1)
        or die "slow JWKS listener: $!\n";

    $ENV{TEST_NGINX_SLOW_JWKS_PORT} = $listener->sockport;

    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        while (my $client = $listener->accept) {
            my $req = '';
            while ($req !~ /\r\n\r\n/) {
                sysread($client, $req, 4096, length $req) or last;
            }
            sleep 2;
            print {$client} "HTTP/1.1 200 OK\r\n"
                . "Content-Type: application/json\r\n"
                . "Content-Length: " . length($JWKS_TEXT) . "\r\n"
                . "Connection: close\r\n\r\n$JWKS_TEXT";
            close $client;
        }
        POSIX::_exit(0);
    }

    $SLOW_JWKS_PID = $pid;
    close $listener;
}

END {
    local $?;               # the child's status is not the file's

    if ($SLOW_JWKS_PID) {
        kill TERM => $SLOW_JWKS_PID;
        waitpid $SLOW_JWKS_PID, 0;
    }
}

use Test::Nginx::Socket 'no_plan';

# a token carrying every kind of claim the variables render
$FULL = $kit->token(claims => {
    email          => 'alice@example.com',
    groups         => ['eng', 'sre'],
    name           => 'Alice A',
    n              => 42,
    email_verified => JSON::PP::true,
    obj            => { a => 1, b => [1, 2] },
    roles          => ['read', 'write'],
    realm_access   => { roles => ['db-admin', 'viewer'] },
});

sub bearer { "Authorization: Bearer $_[0]" }
sub token_id { substr sha256_hex($_[0]), 0, 16 }

sub with_claims { bearer($kit->token(claims => { @_ })) }

# For "--- init": one request before the block's own (both land in the
# error log lines the block checks), the response read to the end.
sub warm_up {
    my ($uri, $token) = @_;

    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    my $sock;

    # nginx under valgrind may not listen yet
    for my $try (1 .. 100) {
        $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Timeout => 3)
            and last;
        select undef, undef, undef, 0.1;
    }

    die "warm_up: $!\n" unless $sock;

    print {$sock} "GET $uri HTTP/1.1\r\nHost: localhost\r\n"
                  . "Authorization: Bearer $token\r\nConnection: close\r\n\r\n";

    my $res = do { local $/; <$sock> };
    die "warm_up: no response\n" unless defined $res && $res =~ m{^HTTP/1\.1 };
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->main_config) {
        $block->set_value('main_config', <<'_EOC_');
hoop_oidc test issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
hoop_oidc realm issuer=$TEST_NGINX_HOOP_ISS audience=hoop
                jwks=$TEST_NGINX_HOOP_JWKS groups_claim=realm_access.roles;
hoop_oidc mail issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS user_claim=email;
_EOC_
    }

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'_EOC_');
hoop_auth_claim_set $realm_roles realm_access.roles;

map $hoop_claim_role $is_admin {
    admin    1;
    default  0;
}

# the upstream: shows what it received
server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;

    location / {
        return 200 "authorization=[$http_authorization] user=[$http_x_hoop_user] groups=[$http_x_hoop_groups] id=[$http_x_hoop_token_id]\n";
    }
}
_EOC_
    }

    if (!defined $block->request) {
        $block->set_value('request', 'GET /t');
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the identity variables
--- config
location = /t {
    hoop_auth oidc=test;
    # "return" would run before the access phase: answer after it
    try_files /nonexistent @vars;
}

location @vars {
    return 200 "user=$hoop_user email=$hoop_email groups=$hoop_groups sub=$hoop_subject
id=$hoop_token_id name=$hoop_claim_name n=$hoop_claim_n aud=$hoop_claim_aud
ev=$hoop_claim_email_verified roles=$hoop_claim_roles obj=$hoop_claim_obj
nested=$realm_roles missing=[$hoop_claim_nope] authorization=[$http_authorization]
";
}
--- more_headers eval
::bearer($::FULL)
--- response_body eval
"user=alice email=alice\@example.com groups=eng,sre sub=alice
id=" . ::token_id($::FULL) . " name=Alice A n=42 aud=hoop
ev=true roles=read,write obj={\"a\":1,\"b\":[1,2]}
nested=db-admin,viewer missing=[] authorization=[]
"



=== TEST 2: no identity where hoop_auth is off
--- config
location /t/ {
    hoop_auth oidc=test;

    location = /t/off {
        hoop_auth off;
        try_files /nonexistent @vars;
    }
}

location @vars {
    return 200 "user=[$hoop_user] groups=[$hoop_groups] id=[$hoop_token_id] name=[$hoop_claim_name]\n";
}
--- request
GET /t/off
--- more_headers eval
::bearer($::FULL)
--- response_body
user=[] groups=[] id=[] name=[]



=== TEST 3: the upstream gets identity headers, never the client's token
--- config
location = /t {
    hoop_auth oidc=test;
    proxy_set_header X-Hoop-User $hoop_user;
    proxy_set_header X-Hoop-Groups $hoop_groups;
    proxy_set_header X-Hoop-Token-Id $hoop_token_id;
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
}
--- more_headers eval
::bearer($::FULL)
--- response_body eval
"authorization=[] user=[alice] groups=[eng,sre] id=[" . ::token_id($::FULL) . "]\n"



=== TEST 4: hoop_auth_pass_token on forwards it
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_pass_token on;
    proxy_set_header X-Hoop-User $hoop_user;
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
}
--- more_headers eval
::bearer($::FULL)
--- response_body eval
"authorization=[Bearer $::FULL] user=[alice] groups=[] id=[]\n"



=== TEST 5: a rejected token reaches nobody either
--- config
location = /t {
    hoop_auth oidc=test;
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
}
--- more_headers eval
::with_claims(exp => time - 3600)
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test", error="invalid_token", error_description="token expired"
--- response_body_unlike: authorization=



=== TEST 6: realm=
--- config
location = /t {
    hoop_auth oidc=test realm=billing-api;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok\n"; }
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="billing-api"



=== TEST 7: hoop_auth_require with a map: met
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $is_admin;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- more_headers eval
::with_claims(role => 'admin')
--- response_body
ok alice



=== TEST 8: hoop_auth_require with a map: not met, 403 insufficient_scope
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $is_admin;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- more_headers eval
::with_claims(role => 'user')
--- error_code: 403
--- response_headers
WWW-Authenticate: Bearer realm="test", error="insufficient_scope", error_description="the token does not meet a requirement"
--- error_log eval
qr/hoop auth: user "alice" \(token [0-9a-f]{16}\) does not meet "hoop_auth_require \$is_admin"/



=== TEST 9: error=401
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $is_admin error=401;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- more_headers eval
::with_claims(role => 'user')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test", error="invalid_token", error_description="the token does not meet a requirement"



=== TEST 10: $hoop_groups with values: one group is enough
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_groups finance sre;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- more_headers eval
::with_claims(groups => ['eng', 'sre'])
--- response_body
ok alice



=== TEST 11: $hoop_groups: none of them
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_groups finance sre;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- more_headers eval
::with_claims(groups => ['eng', 'ops'])
--- error_code: 403



=== TEST 12: groups are compared whole, not split on commas
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_groups admin;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_groups\n"; }
--- more_headers eval
::with_claims(groups => ['eng,admin'])
--- error_code: 403



=== TEST 13: a groups claim that is one string is a list
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_groups admin;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_groups\n"; }
--- more_headers eval
::with_claims(groups => 'eng admin,ops')
--- response_body
ok eng,admin,ops



=== TEST 14: every requirement must hold
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_groups eng;
    hoop_auth_require $is_admin;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- more_headers eval
::with_claims(groups => ['eng'], role => 'user')
--- error_code: 403
--- error_log
does not meet "hoop_auth_require $is_admin"
--- no_error_log
does not meet "hoop_auth_require $hoop_groups eng"



=== TEST 15: requirements are inherited; both hold
--- config
hoop_auth oidc=test;
hoop_auth_require $hoop_groups eng;
hoop_auth_require $is_admin;

location = /t {
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- more_headers eval
::with_claims(groups => ['eng'], role => 'admin')
--- response_body
ok alice



=== TEST 16: an array claim holds one of the values
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_claim_roles write;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_claim_roles\n"; }
--- more_headers eval
::with_claims(roles => ['read', 'write'])
--- response_body
ok read,write



=== TEST 17: an array claim without the value
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_claim_roles admin;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok\n"; }
--- more_headers eval
::with_claims(roles => ['read', 'write'])
--- error_code: 403



=== TEST 18: a nested claim through hoop_auth_claim_set
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $realm_roles db-admin;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $realm_roles\n"; }
--- more_headers eval
::bearer($::FULL)
--- response_body
ok db-admin,viewer



=== TEST 19: a false claim does not meet a requirement without values
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_claim_email_verified;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok\n"; }
--- more_headers eval
::with_claims(email_verified => JSON::PP::false)
--- error_code: 403



=== TEST 20: a true claim does
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_claim_email_verified;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok\n"; }
--- more_headers eval
::with_claims(email_verified => JSON::PP::true)
--- response_body
ok



=== TEST 21: a missing claim does not
--- config
location = /t {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_claim_email_verified;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok\n"; }
--- more_headers eval
::with_claims()
--- error_code: 403



=== TEST 22: groups_claim=realm_access.roles
--- config
location = /t {
    hoop_auth oidc=realm;
    hoop_auth_require $hoop_groups db-admin;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user $hoop_groups\n"; }
--- more_headers eval
::bearer($::FULL)
--- response_body
ok alice db-admin,viewer



=== TEST 23: user_claim=email
--- config
location = /t {
    hoop_auth oidc=mail;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user $hoop_subject\n"; }
--- more_headers eval
::bearer($::FULL)
--- response_body
ok alice@example.com alice



=== TEST 24: user_claim=email, a token without one
--- config
location = /t {
    hoop_auth oidc=mail;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- more_headers eval
::with_claims()
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="mail", error="invalid_token", error_description="no user claim"



=== TEST 25: satisfy any: allowed by address, no token needed
--- config
location = /t {
    satisfy any;
    allow 127.0.0.1;
    deny all;
    hoop_auth oidc=test;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok [$hoop_user]\n"; }
--- response_body
ok []
--- response_headers
! WWW-Authenticate



=== TEST 26: satisfy any: denied by address, allowed by the token
--- config
location = /t {
    satisfy any;
    deny all;
    hoop_auth oidc=test;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok [$hoop_user]\n"; }
--- more_headers eval
::bearer($::FULL)
--- response_body
ok [alice]



=== TEST 27: satisfy any: neither, the challenge wins
--- config
location = /t {
    satisfy any;
    deny all;
    hoop_auth oidc=test;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok [$hoop_user]\n"; }
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test"



=== TEST 28: satisfy all: a valid token does not beat deny
--- config
location = /t {
    satisfy all;
    deny all;
    hoop_auth oidc=test;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok [$hoop_user]\n"; }
--- more_headers eval
::bearer($::FULL)
--- error_code: 403



=== TEST 29: the key source fails: 500 and a log line saying why
--- main_config
hoop_oidc broken issuer=$TEST_NGINX_HOOP_ISS audience=hoop
                 jwks=http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/jwks
                 fetch_timeout=1s;
--- http_config
--- config
location = /t {
    hoop_auth oidc=broken;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok\n"; }
--- more_headers eval
::bearer($::FULL)
--- error_code: 500
--- error_log eval
qr/\[error\] .*hoop auth: cannot verify tokens for "broken": .*(refused|failed)/



=== TEST 30: a request waits while the first JWKS fetch runs
--- main_config
hoop_oidc slow issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=http://127.0.0.1:$TEST_NGINX_SLOW_JWKS_PORT/jwks
               fetch_timeout=5s;
--- http_config
--- config
location = /t {
    hoop_auth oidc=slow;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- more_headers eval
::bearer($::FULL)
--- response_body
ok alice
--- error_log
hoop auth: retrying after waiting for keys



=== TEST 31: the verification cache: a token seen before is a lookup
--- config
location = /t {
    hoop_auth oidc=test;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user $hoop_groups\n"; }
--- init
::warm_up('/t', $::FULL);
--- more_headers eval
::bearer($::FULL)
--- response_body
ok alice eng,sre
--- grep_error_log eval
qr/hoop auth: cache (?:hit|miss)/
--- grep_error_log_out
hoop auth: cache miss
hoop auth: cache hit



=== TEST 32: the cache is per provider
--- config
location = /t {
    hoop_auth oidc=test;
    try_files /nonexistent @ok;
}
location = /mail {
    hoop_auth oidc=mail;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- init
::warm_up('/t', $::FULL);
::warm_up('/mail', $::FULL);
--- request
GET /mail
--- more_headers eval
::bearer($::FULL)
--- response_body
ok alice@example.com
--- grep_error_log eval
qr/hoop auth: cache (?:hit|miss)/
--- grep_error_log_out
hoop auth: cache miss
hoop auth: cache miss
hoop auth: cache hit



=== TEST 33: a rejected token is never cached
--- config
location = /t {
    hoop_auth oidc=test;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok\n"; }
--- init
::warm_up('/t', HoopToken::tamper_payload($::FULL, { sub => 'mallory' }));
--- more_headers eval
::bearer(HoopToken::tamper_payload($::FULL, { sub => 'mallory' }))
--- error_code: 401
--- grep_error_log eval
qr/hoop auth: cache (?:hit|miss)|rejected by "test": signature verification failed/
--- grep_error_log_out
hoop auth: cache miss
rejected by "test": signature verification failed
hoop auth: cache miss
rejected by "test": signature verification failed



=== TEST 34: hoop_auth_cache off
--- main_config
hoop_auth_cache off;
hoop_oidc test issuer=$TEST_NGINX_HOOP_ISS audience=hoop
               jwks=$TEST_NGINX_HOOP_JWKS;
--- http_config
--- config
location = /t {
    hoop_auth oidc=test;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok $hoop_user\n"; }
--- init
::warm_up('/t', $::FULL);
--- more_headers eval
::bearer($::FULL)
--- response_body
ok alice
--- grep_error_log eval
qr/hoop auth: token \w+ verified|hoop auth: cache \w+/
--- grep_error_log_out eval
my $line = "hoop auth: token " . ::token_id($::FULL) . " verified\n";
$line x 2



=== TEST 35: an internal redirect keeps the identity and checks the new rules
--- config
location = /t {
    hoop_auth oidc=test;
    error_page 404 = /admin;
}
location = /admin {
    hoop_auth oidc=test;
    hoop_auth_require $hoop_groups admins;
    try_files /nonexistent @ok;
}
location @ok { return 200 "ok\n"; }
--- more_headers eval
::bearer($::FULL)
--- error_code: 403
--- response_headers
WWW-Authenticate: Bearer realm="test", error="insufficient_scope", error_description="the token does not meet a requirement"



=== TEST 36: an unknown provider fails the configuration
--- config
location = /t {
    hoop_auth oidc=nope;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown identity provider "nope": declare it with "hoop_oidc nope \.\.\.;" at the main level, before the http block/



=== TEST 37: a requirement without hoop_auth fails the configuration
--- config
location = /t {
    hoop_auth_require $hoop_groups admin;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*"hoop_auth_require" needs "hoop_auth oidc=\.\.\." in the same or an enclosing context/
