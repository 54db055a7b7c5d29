# Hostile and malformed input at the Postgres gateway's front door: each
# gets a clear error (or a silent close where PostgreSQL would send
# nothing) and the worker keeps serving the next client.

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
use HoopPgWire;

HoopPgWire::install();

repeat_each(1);
no_shuffle();

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

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl    disable;
        hoop_pg_max_message_size 1m;
        hoop_pg_role trust user=app_trust database=hoop_test;
    }
}
CONF

    # after every hostile exchange, the same worker serves a good client
    $block->set_value('no_error_log', "[alert]\n[crit]\n[emerg]\n");
});

run_tests();

__DATA__

=== TEST 1: a startup packet length of 0
--- raw_request eval
HoopPgWire::encode("raw 00000000 00030000")
--- pg_recv
ErrorResponse S=FATAL C=08P01 M="invalid length of startup packet"



=== TEST 2: a negative startup packet length (0xffffffff)
--- raw_request eval
HoopPgWire::encode("raw ffffffff 00030000")
--- pg_recv
ErrorResponse S=FATAL C=08P01 M="invalid length of startup packet"



=== TEST 3: a startup packet announcing 2^31 bytes
--- raw_request eval
HoopPgWire::encode("raw 80000000 00030000")
--- pg_recv
ErrorResponse S=FATAL C=08P01 M="invalid length of startup packet"



=== TEST 4: a 10 MB startup packet is refused by its length, without reading it
--- raw_request eval
pack('N', 10 * 1024 * 1024) . pack('N', 196608) . ('x' x 65536)
--- pg_recv
ErrorResponse S=FATAL C=08P01 M="invalid length of startup packet"



=== TEST 5: protocol version 2
--- raw_request eval
HoopPgWire::encode("StartupMessage protocol=2.0 user=trust database=hoop_test")
--- pg_recv
ErrorResponse S=FATAL C=0A000 M="unsupported frontend protocol: the gateway supports protocol 3"



=== TEST 6: parameters without their terminating zero
--- raw_request eval
my $body = pack('N', 196608) . "user\0trust\0database\0hoop_test";
pack('N', 4 + length $body) . $body
--- pg_recv
ErrorResponse S=FATAL C=08P01 M="invalid startup packet layout"



=== TEST 7: garbage after an SSLRequest answered N is read as a startup packet, and refused
--- raw_request eval
HoopPgWire::encode("SSLRequest") . "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
--- pg_recv
SSLResponse N
ErrorResponse S=FATAL C=08P01 M="invalid length of startup packet"



=== TEST 8: a second SSLRequest after the first
--- raw_request eval
HoopPgWire::encode("SSLRequest\nSSLRequest\nSSLRequest")
--- pg_recv
SSLResponse N
SSLResponse N
ErrorResponse S=FATAL C=08P01 M="invalid startup packet"



=== TEST 9: a CancelRequest of the wrong length
--- raw_request eval
HoopPgWire::encode("raw 0000000c 04d2162e 00000001")
--- pg_recv
ErrorResponse S=FATAL C=08P01 M="invalid cancel request"



=== TEST 10: a password message announcing 2^31 bytes
--- raw_request eval
HoopPgWire::encode("StartupMessage user=trust database=hoop_test\nraw \"p\" 80000000 414141")
--- pg_recv
AuthenticationCleartextPassword
ErrorResponse S=FATAL C=08P01 M="password message too long or invalid"



=== TEST 11: after login, a message announcing 2^31 bytes is over hoop_pg_max_message_size
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=trust database=hoop_test\nPasswordMessage "$::token"\nraw "Q" 7fffffff 53454c454354})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=FATAL C=54000 M="message too long for the gateway (hoop_pg_max_message_size)"



=== TEST 12: a JWT with a 1 MB segment is refused as too large, not parsed
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=trust database=hoop_test\nPasswordMessage "eyJhbGciOiJFUzI1NiJ9.} . ('A' x (1024 * 1024)) . qq{.sig"})
--- pg_recv
AuthenticationCleartextPassword
ErrorResponse S=FATAL C=08P01 M="password message too long or invalid"



=== TEST 13: after all that, a well-behaved client is served
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=trust database=hoop_test\nPasswordMessage "$::token"\nQuery "SELECT 1 AS one"\nTerminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription one:int4
DataRow 1
CommandComplete "SELECT 1"
ReadyForQuery I
