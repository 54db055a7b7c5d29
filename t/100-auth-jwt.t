# Bearer token verification: algorithms, claims, key selection, malformed
# tokens.  Keys are generated when the suite runs (t/lib/HoopToken.pm);
# tokens are signed by Crypt::JWT / CryptX.
#
# Test::Base evaluates every "eval" section when the suite starts, so the
# tokens are minted then: time-sensitive blocks keep wide margins (or run
# first), which keeps them valid under valgrind too.

use strict;
use warnings;

use lib 't/lib';
use HoopToken;

our ($kit, $SIZE_OK, $SIZE_OVER);

BEGIN {
    $kit = HoopToken->standard;

    $ENV{TEST_NGINX_HOOP_JWKS} = $kit->write_jwks('jwks.json');

    # plus two keys the gateway must skip: a symmetric key and an
    # encryption key (blocks with "--- mixed" use it)
    $ENV{TEST_NGINX_HOOP_JWKS_MIXED} = $kit->write_jwks('mixed.json',
        $kit->names,
        { kty => 'oct', kid => 'hmac', k => HoopToken::b64u('secret') },
        $kit->jwk('rsa2', kid => 'enc1', use => 'enc'));

    $ENV{TEST_NGINX_HOOP_JWKS_ONE} = $kit->write_jwks('one.json', 'rsa1');
    $ENV{TEST_NGINX_HOOP_ISS} = $kit->issuer;
}

use Test::Nginx::Socket 'no_plan';

# A token of exactly $len characters (the pad claim is sized to fit).
sub sized_token {
    my ($len) = @_;

    my $base = length $kit->token(claims => { pad => '' });
    my $n = int(($len - $base) * 3 / 4) - 4;

    for my $pad ($n .. $n + 12) {
        my $t = $kit->token(claims => { pad => 'x' x $pad });
        return $t if length $t == $len;
    }

    die "no token of length $len\n";
}

$SIZE_OK = sized_token(16384);      # max_token_size=16k, the default
$SIZE_OVER = sized_token(16386);    # 16385 is no base64url length here

sub bearer { "Authorization: Bearer $_[0]" }

sub challenge {
    my ($why) = @_;
    return qq{WWW-Authenticate: Bearer realm="test", error="invalid_token", }
           . qq{error_description="$why"};
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->main_config) {
        my $jwks = defined $block->mixed ? '$TEST_NGINX_HOOP_JWKS_MIXED'
                                         : '$TEST_NGINX_HOOP_JWKS';
        $block->set_value('main_config', <<_EOC_ . <<'_EOC_');
hoop_oidc test issuer=\$TEST_NGINX_HOOP_ISS audience=hoop,other
               jwks=$jwks;
_EOC_
hoop_oidc one issuer=$TEST_NGINX_HOOP_ISS audience=hoop
              jwks=$TEST_NGINX_HOOP_JWKS_ONE;
hoop_oidc small issuer=$TEST_NGINX_HOOP_ISS audience=hoop
                jwks=$TEST_NGINX_HOOP_JWKS max_token_size=1k;
hoop_oidc lenient issuer=$TEST_NGINX_HOOP_ISS audience=hoop
                  jwks=$TEST_NGINX_HOOP_JWKS leeway=10m;
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
large_client_header_buffers 4 32k;

# "return" runs in the rewrite phase, before access checks: answer from
# a named location reached after the access phase
location = /t {
    hoop_auth oidc=test;
    try_files /nonexistent @ok;
}

location = /one {
    hoop_auth oidc=one;
    try_files /nonexistent @ok;
}

location = /small {
    hoop_auth oidc=small;
    try_files /nonexistent @ok;
}

location = /lenient {
    hoop_auth oidc=lenient;
    try_files /nonexistent @ok;
}

location @ok {
    return 200 "ok $hoop_user\n";
}
_EOC_
    }

    if (!defined $block->request) {
        $block->set_value('request', 'GET /t');
    }

    if (!defined $block->error_code) {
        $block->set_value('response_body', "ok alice\n")
            if !defined $block->response_body
               && !defined $block->response_body_like;
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: RS256
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', alg => 'RS256'))
--- error_log eval
qr/hoop auth: token [0-9a-f]{16} verified \(RS256, kid "rsa1"\), user "alice"/
--- no_error_log
[error]
[alert]



=== TEST 2: expired 30s ago: within the default leeway (60s)
--- more_headers eval
::bearer($::kit->token(claims => { exp => time - 30 }))



=== TEST 3: RS384
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', alg => 'RS384'))



=== TEST 4: RS512
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', alg => 'RS512'))



=== TEST 5: PS256
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', alg => 'PS256'))
--- error_log
verified (PS256, kid "rsa1")



=== TEST 6: PS384
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', alg => 'PS384'))



=== TEST 7: PS512
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', alg => 'PS512'))



=== TEST 8: ES256 (P-256)
--- more_headers eval
::bearer($::kit->token(key => 'ec256', alg => 'ES256'))
--- error_log
verified (ES256, kid "ec256")



=== TEST 9: ES384 (P-384)
--- more_headers eval
::bearer($::kit->token(key => 'ec384', alg => 'ES384'))



=== TEST 10: ES512 (P-521)
--- more_headers eval
::bearer($::kit->token(key => 'ec521', alg => 'ES512'))



=== TEST 11: EdDSA (Ed25519)
--- more_headers eval
::bearer($::kit->token(key => 'ed', alg => 'EdDSA'))
--- error_log
verified (EdDSA, kid "ed")



=== TEST 12: the JWKS loads every signature key and skips the others
--- mixed
--- more_headers eval
::bearer($::kit->token(key => 'rsa2'))
--- error_log
skipped: symmetric ("oct") keys are never accepted



=== TEST 13: the encryption key was not loaded
--- mixed
--- more_headers eval
::bearer($::kit->token(key => 'rsa2', header => { kid => 'enc1' }))
--- error_code: 401
--- response_headers eval
::challenge("unknown kid")



=== TEST 14: expired
--- more_headers eval
::bearer($::kit->token(claims => { exp => time - 3600 }))
--- error_code: 401
--- response_headers eval
::challenge("token expired")
--- response_body_like: 401 Authorization Required
--- error_log eval
qr/hoop auth: token [0-9a-f]{16} rejected by "test": token expired/



=== TEST 15: leeway=10m: expired 5 minutes ago
--- request
GET /lenient
--- more_headers eval
::bearer($::kit->token(claims => { exp => time - 300 }))



=== TEST 16: leeway=10m: expired an hour ago
--- request
GET /lenient
--- more_headers eval
::bearer($::kit->token(claims => { exp => time - 3600 }))
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="lenient", error="invalid_token", error_description="token expired"



=== TEST 17: exp is required
--- more_headers eval
::bearer($::kit->token(claims => { exp => undef }))
--- error_code: 401
--- response_headers eval
::challenge("no exp claim")



=== TEST 18: exp must be a number
--- more_headers eval
::bearer($::kit->token(claims => { exp => "" . (time + 600) }))
--- error_code: 401
--- response_headers eval
::challenge("exp is not a number")



=== TEST 19: not yet valid (nbf)
--- more_headers eval
::bearer($::kit->token(claims => { nbf => time + 3600 }))
--- error_code: 401
--- response_headers eval
::challenge("token not yet valid")



=== TEST 20: leeway=10m: nbf in 5 minutes
--- request
GET /lenient
--- more_headers eval
::bearer($::kit->token(claims => { nbf => time + 300, iat => time + 300 }))



=== TEST 21: issued in the future (iat)
--- more_headers eval
::bearer($::kit->token(claims => { iat => time + 3600 }))
--- error_code: 401
--- response_headers eval
::challenge("token issued in the future")



=== TEST 22: wrong issuer
--- more_headers eval
::bearer($::kit->token(claims => { iss => $::kit->issuer . '/' }))
--- error_code: 401
--- response_headers eval
::challenge("wrong issuer")



=== TEST 23: missing issuer
--- more_headers eval
::bearer($::kit->token(claims => { iss => undef }))
--- error_code: 401
--- response_headers eval
::challenge("wrong issuer")



=== TEST 24: wrong audience
--- more_headers eval
::bearer($::kit->token(claims => { aud => 'hoop2' }))
--- error_code: 401
--- response_headers eval
::challenge("wrong audience")



=== TEST 25: the second accepted audience
--- more_headers eval
::bearer($::kit->token(claims => { aud => 'other' }))



=== TEST 26: aud array holding an accepted audience
--- more_headers eval
::bearer($::kit->token(claims => { aud => ['billing', 'hoop'] }))



=== TEST 27: aud array without one
--- more_headers eval
::bearer($::kit->token(claims => { aud => ['billing', 'hooper'] }))
--- error_code: 401
--- response_headers eval
::challenge("wrong audience")



=== TEST 28: tampered payload
--- more_headers eval
::bearer(HoopToken::tamper_payload($::kit->token, { sub => 'mallory' }))
--- error_code: 401
--- response_headers eval
::challenge("signature verification failed")



=== TEST 29: tampered signature (RS256)
--- more_headers eval
::bearer(HoopToken::tamper_signature($::kit->token))
--- error_code: 401
--- response_headers eval
::challenge("signature verification failed")



=== TEST 30: tampered signature (ES256)
--- more_headers eval
::bearer(HoopToken::tamper_signature($::kit->token(key => 'ec256')))
--- error_code: 401
--- response_headers eval
::challenge("signature verification failed")



=== TEST 31: tampered signature (EdDSA)
--- more_headers eval
::bearer(HoopToken::tamper_signature($::kit->token(key => 'ed')))
--- error_code: 401
--- response_headers eval
::challenge("signature verification failed")



=== TEST 32: alg none
--- more_headers eval
::bearer($::kit->token(alg => 'none'))
--- error_code: 401
--- response_headers eval
::challenge("alg none refused")



=== TEST 33: alg none with a signature attached
--- more_headers eval
::bearer($::kit->raw_token(key => 'rsa1', sign_alg => 'RS256',
                         header_json => '{"alg":"none","kid":"rsa1"}'))
--- error_code: 401
--- response_headers eval
::challenge("alg none refused")



=== TEST 34: HS256 keyed with the RSA public key (algorithm confusion)
--- more_headers eval
::bearer($::kit->confusion_token(key => 'rsa1'))
--- error_code: 401
--- response_headers eval
::challenge("HMAC algorithms refused")



=== TEST 35: HS256 naming the JWKS's symmetric key
--- mixed
--- more_headers eval
use Crypt::JWT qw(encode_jwt);
::bearer(encode_jwt(payload => $::kit->claims, alg => 'HS256', key => 'secret',
                  extra_headers => { kid => 'hmac' }))
--- error_code: 401
--- response_headers eval
::challenge("HMAC algorithms refused")



=== TEST 36: the kid names another RSA key than the one that signed
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', header => { kid => 'rsa2' }))
--- error_code: 401
--- response_headers eval
::challenge("signature verification failed")



=== TEST 37: unknown kid
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', header => { kid => 'nope' }))
--- error_code: 401
--- response_headers eval
::challenge("unknown kid")



=== TEST 38: the JWK's alg pins the algorithm (rsa2 is RS256 only)
--- more_headers eval
::bearer($::kit->token(key => 'rsa2', alg => 'PS256'))
--- error_code: 401
--- response_headers eval
::challenge("alg does not fit the key")



=== TEST 39: ES384 with a P-256 key
--- more_headers eval
::bearer($::kit->raw_token(key => 'ec256', alg => 'ES384', sign_alg => 'ES256'))
--- error_code: 401
--- response_headers eval
::challenge("alg does not fit the key")



=== TEST 40: RS256 naming an EC key
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', header => { kid => 'ec256' }))
--- error_code: 401
--- response_headers eval
::challenge("alg does not fit the key")



=== TEST 41: no kid, one key fits the alg (ES256: only ec256)
--- more_headers eval
::bearer($::kit->token(key => 'ec256', header => { kid => undef }))
--- error_log
verified (ES256, kid "ec256")



=== TEST 42: no kid, several keys fit the alg (RS256: rsa1 and rsa2)
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', header => { kid => undef }))
--- error_code: 401
--- response_headers eval
::challenge("no kid and several keys fit")



=== TEST 43: no kid, a JWKS of one key
--- request
GET /one
--- more_headers eval
::bearer($::kit->token(key => 'rsa1', header => { kid => undef }))



=== TEST 44: no kid, the one key does not fit the alg
--- request
GET /one
--- more_headers eval
::bearer($::kit->token(key => 'ec256', header => { kid => undef }))
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="one", error="invalid_token", error_description="no key fits the alg"



=== TEST 45: typ at+jwt (RFC 9068 access token)
--- more_headers eval
::bearer($::kit->token(header => { typ => 'at+jwt' }))



=== TEST 46: typ application/at+JWT
--- more_headers eval
::bearer($::kit->token(header => { typ => 'application/at+JWT' }))



=== TEST 47: no typ
--- more_headers eval
::bearer($::kit->token(header => { typ => undef }))



=== TEST 48: another typ
--- more_headers eval
::bearer($::kit->token(header => { typ => 'JOSE+JSON' }))
--- error_code: 401
--- response_headers eval
::challenge("unsupported typ")



=== TEST 49: a critical header extension
--- more_headers eval
::bearer($::kit->token(header => { crit => ['exp'], exp => 1 }))
--- error_code: 401
--- response_headers eval
::challenge("unsupported crit header")



=== TEST 50: two segments
--- more_headers eval
my ($h, $p) = split /\./, $::kit->token;
::bearer("$h.$p")
--- error_code: 401
--- response_headers eval
::challenge("malformed token")



=== TEST 51: four segments
--- more_headers eval
::bearer($::kit->token . '.AAAA')
--- error_code: 401
--- response_headers eval
::challenge("malformed token")



=== TEST 52: base64 padding is not base64url
--- more_headers eval
my ($h, $p, $s) = split /\./, $::kit->token;
::bearer("$h.$p=.$s")
--- error_code: 401
--- response_headers eval
::challenge("malformed token")



=== TEST 53: characters outside base64url
--- more_headers eval
my ($h, $p, $s) = split /\./, $::kit->token;
$p =~ s/^(.)/+/;
::bearer("$h.$p.$s")
--- error_code: 401
--- response_headers eval
::challenge("malformed token")



=== TEST 54: a base64url length that cannot be
--- more_headers eval
my ($h, $p, $s) = split /\./, $::kit->token;
$h .= 'A' x ((1 - length $h) % 4);
::bearer("$h.$p.$s")
--- error_code: 401
--- response_headers eval
::challenge("malformed header")



=== TEST 55: the header is not JSON
--- more_headers eval
::bearer($::kit->raw_token(key => 'rsa1', alg => 'RS256',
                         header_json => '{"alg":"RS256","kid":"rsa1"'))
--- error_code: 401
--- response_headers eval
::challenge("header is not a JSON object")



=== TEST 56: a signed payload that is not JSON
--- more_headers eval
::bearer($::kit->raw_token(key => 'rsa1', payload_json => '{"sub":"alice",'))
--- error_code: 401
--- response_headers eval
::challenge("payload is not a JSON object")



=== TEST 57: a signed payload with a duplicate claim
--- more_headers eval
my $c = $::kit->claims;
my $json = sprintf '{"iss":"%s","aud":"hoop","exp":%d,"sub":"alice","sub":"admin"}',
                   $c->{iss}, $c->{exp};
::bearer($::kit->raw_token(key => 'rsa1', payload_json => $json))
--- error_code: 401
--- response_headers eval
::challenge("payload is not a JSON object")



=== TEST 58: a header nested too deep
--- more_headers eval
::bearer($::kit->raw_token(key => 'rsa1',
       header_json => '{"alg":"RS256","kid":"rsa1","x":' . ('[' x 40) . (']' x 40) . '}'))
--- error_code: 401
--- response_headers eval
::challenge("header is not a JSON object")



=== TEST 59: a 16 KB token (exactly max_token_size) is accepted
--- more_headers eval
die "size\n" unless length($::SIZE_OK) == 16384;
::bearer($::SIZE_OK)



=== TEST 60: above max_token_size
--- more_headers eval
die "size\n" unless length($::SIZE_OVER) > 16384;
::bearer($::SIZE_OVER)
--- error_code: 401
--- response_headers eval
::challenge("token too large")



=== TEST 61: max_token_size=1k
--- request
GET /small
--- more_headers eval
my $t = $::kit->token(claims => { pad => 'x' x 600 });
die "size\n" unless length($t) > 1024;
::bearer($t)
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="small", error="invalid_token", error_description="token too large"



=== TEST 62: no Authorization header: a bare challenge (RFC 6750, 3.1)
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test"
--- no_error_log
rejected



=== TEST 63: another scheme is no bearer credential
--- more_headers
Authorization: Basic YWxpY2U6c2VjcmV0
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test"



=== TEST 64: "Bearer" without a token
--- more_headers
Authorization: Bearer
--- error_code: 401
--- response_headers eval
::challenge("malformed Authorization header")



=== TEST 65: two Authorization headers: 400 (nginx refuses the request)
--- more_headers eval
::bearer($::kit->token) . "\n" . ::bearer($::kit->token(key => 'ec256'))
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log
client sent duplicate header line



=== TEST 66: the scheme is case-insensitive
--- more_headers eval
"Authorization: bearer " . $::kit->token



=== TEST 67: BEARER, extra spaces
--- more_headers eval
"Authorization: BEARER    " . $::kit->token(key => 'ed')



=== TEST 68: the token never reaches the error log
--- log_level: info
--- more_headers eval
::bearer($::kit->token(claims => { exp => time - 3600, sub => 'tok-marker' }))
--- error_code: 401
--- error_log eval
qr/token [0-9a-f]{16} rejected by "test": token expired/
--- no_error_log eval
[qr/eyJ/, qr/tok-marker/]



=== TEST 69: the user claim is required
--- more_headers eval
::bearer($::kit->token(claims => { sub => undef }))
--- error_code: 401
--- response_headers eval
::challenge("no user claim")
