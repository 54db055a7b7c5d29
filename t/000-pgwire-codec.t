# HoopPgWire: the transcript codec on hand-made bytes, then (when the test
# setup provides a PostgreSQL 15 in TEST_NGINX_PG_PORT) real exchanges
# through nginx's stream proxy.
#
# Expected bytes below are written from the protocol documentation
# ("Message Formats", PostgreSQL 15), not produced by the module.

use Test::Nginx::Socket 'no_plan';
use HoopPgWire;

sub hex_of { return unpack 'H*', HoopPgWire::encode(@_) }

# --- encoding client messages ---------------------------------------------

is(hex_of('SSLRequest'), '00000008' . '04d2162f', 'SSLRequest: length 8, code 80877103');
is(hex_of('GSSENCRequest'), '00000008' . '04d21630', 'GSSENCRequest: code 80877104');
is(hex_of('CancelRequest 1234 5678'),
   '00000010' . '04d2162e' . '000004d2' . '0000162e', 'CancelRequest: pid and key');
is(hex_of('StartupMessage user=u database=d'),
   '0000001b' . '00030000' . unpack('H*', "user\0u\0database\0d\0\0"),
   'StartupMessage: length 27, protocol 3.0, pairs, final NUL');
is(hex_of('StartupMessage protocol=3.2 user=u'),
   '00000010' . '00030002' . unpack('H*', "user\0u\0\0"), 'StartupMessage: protocol=3.2');
my $app_params = "user\0u\0application_name\0my app\0\0";
is(hex_of('StartupMessage user=u application_name="my app"'),
   unpack('H*', pack('N', 8 + length $app_params) . pack('N', 196608) . $app_params),
   'StartupMessage: quoted value with a space');
is(hex_of('PasswordMessage "s3cret"'), '70' . '0000000b' . unpack('H*', "s3cret\0"),
   'PasswordMessage');
is(hex_of('Query "SELECT 1"'), '51' . '0000000d' . unpack('H*', "SELECT 1\0"), 'Query');
is(hex_of('Query "say \"hi\"\n"'), '51' . '0000000e' . unpack('H*', qq{say "hi"\n\0}),
   'Query: escapes in quoted strings');
is(hex_of('Parse s1 "SELECT $1" int4'),
   '50' . '00000017' . unpack('H*', "s1\0SELECT \$1\0") . '0001' . '00000017',
   'Parse: name, query, one type by name (int4 = 23)');
is(hex_of('Parse "" "SELECT $1, $2" 25 uuid'),
   '50' . '0000001d' . unpack('H*', "\0SELECT \$1, \$2\0") . '0002' . '00000019' . '00000b86',
   'Parse: unnamed, types by oid and by name (uuid = 2950)');
is(hex_of('Bind "" s1 "42" NULL'),
   '42' . '00000018' . '00' . unpack('H*', "s1\0") . '0000' . '0002'
   . '00000002' . unpack('H*', '42') . 'ffffffff' . '0000',
   'Bind: text params, one NULL, no format codes');
is(hex_of('Bind p1 s1 formats=1 results=1,0 "\x00\x00\x00\x07"'),
   '42' . '0000001e' . unpack('H*', "p1\0s1\0") . '0001' . '0001' . '0001'
   . '00000004' . '00000007' . '0002' . '0001' . '0000',
   'Bind: binary param and result format codes');
is(hex_of('Describe P ""'), '44' . '00000006' . '50' . '00', 'Describe portal');
is(hex_of('Describe S s1'), '44' . '00000008' . '53' . unpack('H*', "s1\0"), 'Describe statement');
is(hex_of('Execute "" 0'), '45' . '00000009' . '00' . '00000000', 'Execute: all rows');
is(hex_of('Execute p1 10'), '45' . '0000000b' . unpack('H*', "p1\0") . '0000000a',
   'Execute: max rows');
is(hex_of('Close P p1'), '43' . '00000008' . '50' . unpack('H*', "p1\0"), 'Close portal');
is(hex_of("Sync\nFlush\nCopyDone\nTerminate"),
   '53' . '00000004' . '48' . '00000004' . '63' . '00000004' . '58' . '00000004',
   'Sync, Flush, CopyDone, Terminate');
is(hex_of('CopyData "1\tx\n"'), '64' . '00000008' . unpack('H*', "1\tx\n"), 'CopyData');
is(hex_of('CopyFail "no"'), '66' . '00000007' . unpack('H*', "no\0"), 'CopyFail');
is(hex_of('raw 51 "junk" 00'), '51' . unpack('H*', 'junk') . '00', 'raw: hex and literal bytes');
is(hex_of("# a comment\n\nSync\n"), '53' . '00000004', 'comments and blank lines are ignored');
is(unpack('H*', HoopPgWire::message('Q', "x\0")), '51' . '00000006' . '7800', 'message()');
ok(!eval { HoopPgWire::encode('Frobnicate 1'); 1 }, 'an unknown client message dies');
like($@, qr/unknown client message 'Frobnicate'/, '... naming the message');
ok(!eval { HoopPgWire::encode('raw 5'); 1 }, 'raw with an odd hex digit dies');

# --- decoding server messages ---------------------------------------------

# Hand-framed backend messages: type, int32 length including itself, payload.
sub backend { my ($type, $payload) = @_; return $type . pack('N', 4 + length $payload) . $payload }

my $startup_reply = backend('R', pack 'N', 0)
    . backend('S', "client_encoding\0UTF8\0")
    . backend('S', "DateStyle\0ISO, MDY\0")
    . backend('K', pack 'NN', 4242, 99)
    . backend('Z', 'I');
is_deeply([HoopPgWire::decode($startup_reply)],
          ['AuthenticationOk', 'ParameterStatus client_encoding UTF8',
           'ParameterStatus DateStyle "ISO, MDY"', 'BackendKeyData 4242 99', 'ReadyForQuery I'],
          'decode: startup reply');

my $field = sub { my ($name, $type, $format) = @_;
                  return "$name\0" . pack('N n N s> l> n', 0, 0, $type, 4, -1, $format) };
my $rows = backend('T', pack('n', 3) . $field->('one', 23, 0) . $field->('note', 25, 0)
                        . $field->('blob', 17, 1))
    . backend('D', pack('n', 3) . pack('N', 1) . '1' . pack('l>', -1) . pack('N', 2) . "\x00\xff")
    . backend('D', pack('n', 3) . pack('N', 0) . pack('N', 4) . 'NULL' . pack('N', 3) . 'a b')
    . backend('C', "SELECT 2\0");
is_deeply([HoopPgWire::decode($rows)],
          ['RowDescription one:int4 note:text blob:bytea:binary',
           'DataRow 1 NULL "\x00\xff"', 'DataRow "" "NULL" "a b"', 'CommandComplete "SELECT 2"'],
          'decode: rows, NULL vs the string "NULL", binary and empty values');

my $error = backend('E', "SERROR\0VERROR\0C42P01\0Mrelation \"t\" does not exist\0P15\0"
                         . "Fparse_relation.c\0L1392\0RparserOpenTable\0\0");
is_deeply([HoopPgWire::decode($error)],
          ['ErrorResponse S=ERROR C=42P01 M="relation \"t\" does not exist" P=15'],
          'decode: ErrorResponse shows fields but not V/F/L/R');
is_deeply([HoopPgWire::decode(backend('N', "SNOTICE\0C00000\0Mhello\0\0"))],
          ['NoticeResponse S=NOTICE C=00000 M=hello'], 'decode: NoticeResponse');

my $extended = backend('1', '') . backend('2', '') . backend('t', pack('nNN', 2, 23, 999999))
    . backend('n', '') . backend('s', '') . backend('3', '') . backend('I', '');
is_deeply([HoopPgWire::decode($extended)],
          ['ParseComplete', 'BindComplete', 'ParameterDescription int4 999999', 'NoData',
           'PortalSuspended', 'CloseComplete', 'EmptyQueryResponse'],
          'decode: extended-protocol replies; unknown type oids stay numeric');

my $copy = backend('G', pack('Cn nn', 0, 2, 0, 0)) . backend('H', pack('Cn n', 1, 1, 1))
    . backend('W', pack('Cn nn', 0, 2, 0, 1)) . backend('d', "1\tx\n") . backend('c', '');
is_deeply([HoopPgWire::decode($copy)],
          ['CopyInResponse text 2', 'CopyOutResponse binary 1',
           'CopyBothResponse text 2 formats=0,1', 'CopyData "1\tx\n"', 'CopyDone'],
          'decode: COPY messages');

my $auth = backend('R', pack('N', 3)) . backend('R', pack('N', 5) . "\x01\x02\x03\x04")
    . backend('R', pack('N', 10) . "SCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0\0")
    . backend('R', pack('N', 11) . 'r=abc,s=c2FsdA==,i=4096')
    . backend('R', pack('N', 12) . 'v=xyz') . backend('R', pack('N', 77));
is_deeply([HoopPgWire::decode($auth)],
          ['AuthenticationCleartextPassword', 'AuthenticationMD5Password 01020304',
           'AuthenticationSASL SCRAM-SHA-256 SCRAM-SHA-256-PLUS',
           'AuthenticationSASLContinue "r=abc,s=c2FsdA==,i=4096"',
           'AuthenticationSASLFinal "v=xyz"', 'Authentication 77 ""'],
          'decode: authentication requests');

my $misc = backend('A', pack('N', 7) . "chan\0hi there\0")
    . backend('v', pack('NN', 1, 1) . "_pq_.x\0") . backend('V', pack('l>', -1))
    . backend('V', pack('N', 2) . 'ok');
is_deeply([HoopPgWire::decode($misc)],
          ['NotificationResponse 7 chan "hi there"', 'NegotiateProtocolVersion 3.1 _pq_.x',
           'FunctionCallResponse NULL', 'FunctionCallResponse ok'],
          'decode: notification, protocol negotiation, function call result');

is_deeply([HoopPgWire::decode('N' . backend('Z', 'I'), answers => ['SSL'])],
          ['SSLResponse N', 'ReadyForQuery I'], 'decode: a one-byte answer to SSLRequest');
is_deeply([HoopPgWire::decode('NN', answers => ['GSSENC', 'SSL'])],
          ['GSSENCResponse N', 'SSLResponse N'], 'decode: GSSENC then SSL refused');
is_deeply([HoopPgWire::decode("S\x16\x03\x01", answers => ['SSL'])],
          ['SSLResponse S', 'Encrypted 3 bytes'], 'decode: TLS accepted; the rest is opaque');
is_deeply([HoopPgWire::decode(backend('E', "SFATAL\0C08P01\0Mbad\0\0"), answers => ['SSL'])],
          ['ErrorResponse S=FATAL C=08P01 M=bad'],
          'decode: an error instead of the one-byte answer');
is_deeply([HoopPgWire::decode(backend('Z', 'I') . substr(backend('D', 'abcdef'), 0, 7))],
          ['ReadyForQuery I', 'Truncated D length=10 got=6'], 'decode: a truncated message');
is_deeply([HoopPgWire::decode("Z\0\0")], ['Truncated header "Z\x00\x00"'],
          'decode: a truncated header');
is_deeply([HoopPgWire::decode(backend('@', 'zz') . "Q\0\0\0\2")],
          ['Unknown "@" zz', 'Malformed Q length=2'], 'decode: unknown type, bad length');
is_deeply([HoopPgWire::decode(backend('D', pack('n', 2) . pack('N', 9) . 'x'))],
          ['Malformed D "\x00\x02\x00\x00\x00\tx"'], 'decode: a DataRow shorter than it says');
is_deeply([HoopPgWire::decode(backend('C', "SELECT 1\0junk"))],
          ['Malformed C "SELECT 1\x00junk"'], 'decode: bytes past the end of a message');

is_deeply([HoopPgWire::expected_answers(HoopPgWire::encode("SSLRequest\nGSSENCRequest\nSync"))],
          ['SSL', 'GSSENC'], 'expected_answers: leading SSL/GSSENC requests');
is_deeply([HoopPgWire::expected_answers(HoopPgWire::encode("StartupMessage user=u\nSSLRequest"))],
          [], 'expected_answers: none after a StartupMessage');

# --- matching ---------------------------------------------------------------

my @received = ('AuthenticationOk', 'ParameterStatus a b', 'BackendKeyData 1 2',
                'ReadyForQuery I', 'NoticeResponse S=NOTICE C=00000 M=hi',
                'RowDescription one:int4', 'DataRow 1 NULL', 'CommandComplete "SELECT 1"',
                'ErrorResponse S=ERROR C=42P01 M="relation \"t\" does not exist" P=15',
                'ReadyForQuery I');
sub matches { my ($want) = @_; return (HoopPgWire::match_transcript([split /\n/, $want], \@received))[0] }

ok(matches(join "\n", @received), 'match: the transcript itself');
ok(matches(<<'_'), 'match: ... skips startup noise; ... NoticeResponse; subset of error fields');
AuthenticationOk
...
ReadyForQuery I
... NoticeResponse
RowDescription one:int4
DataRow * NULL
CommandComplete /^SELECT \d+$/
ErrorResponse C=42P01 M=/does not exist/
ReadyForQuery I
_
ok(matches("AuthenticationOk\n... *\nReadyForQuery I"), 'match: ... * skips anything');
ok(matches("AuthenticationOk\n... *\nDataRow ...\n... *"), 'match: ... as the rest of a line');
ok(!matches("AuthenticationOk\nReadyForQuery I\n... *"), 'mismatch: noise not skipped');
ok(!matches("AuthenticationOk\n...\nReadyForQuery I\nRowDescription one:int4\n... *"),
   'mismatch: ... alone does not skip a NoticeResponse');
ok(!matches("... *\nDataRow 1 2\n... *"), 'mismatch: a different value');
ok(!matches("... *\nDataRow 1\n... *"), 'mismatch: fewer values than received');
ok(!matches("... *\nDataRow 1 NULL x\n... *"), 'mismatch: more values than received');
ok(!matches("... *\nDataRow 1 \"NULL\"\n... *"), 'mismatch: the string "NULL" is not NULL');
ok(!matches("... *\nErrorResponse C=42P02\n... *"), 'mismatch: a different SQLSTATE');
ok(!matches("... *\nErrorResponse X=1\n... *"), 'mismatch: a field that is not there');
ok(!matches("... *\nCommandComplete /^INSERT/\n... *"), 'mismatch: a regex that fails');
ok(!matches("AuthenticationOk"), 'mismatch: messages left over');
ok(!matches(join("\n", @received) . "\nReadyForQuery I"), 'mismatch: a message missing');
my (undef, $why) = HoopPgWire::match_transcript(['AuthenticationOk', '...', 'ReadyForQuery T'],
                                                \@received);
like($why, qr/expected line 3 "ReadyForQuery T" does not match message 4 "ReadyForQuery I"/,
     'a mismatch names the expected line and the message');

# --- real exchanges through nginx's stream proxy ---------------------------

if (!$ENV{TEST_NGINX_PG_PORT}) {
    diag 'TEST_NGINX_PG_PORT is not set: skipping the PostgreSQL round trips';
} else {
    HoopPgWire::install();
    no_shuffle();
    run_tests();
}

__DATA__

=== TEST 1: simple query, two statements, rows and NULL
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- pg_send
StartupMessage user=app_trust database=hoop_test application_name=hoop-t
Query "SELECT 1 AS one, NULL::text AS nothing; SELECT 'x y' AS s FROM generate_series(1, 2)"
Terminate
--- pg_recv
AuthenticationOk
...
ReadyForQuery I
RowDescription one:int4 nothing:text
DataRow 1 NULL
CommandComplete "SELECT 1"
RowDescription s:text
DataRow "x y"
DataRow "x y"
CommandComplete "SELECT 2"
ReadyForQuery I
--- no_error_log
[error]



=== TEST 2: SSLRequest answered N (no TLS on this server), then an error and recovery
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- pg_send
SSLRequest
StartupMessage user=app_trust database=hoop_test
Query "SELECT * FROM no_such_table"
Query "SELECT current_user"
Terminate
--- pg_recv
SSLResponse N
AuthenticationOk
ParameterStatus application_name ""
...
ReadyForQuery I
ErrorResponse S=ERROR C=42P01 M="relation \"no_such_table\" does not exist"
ReadyForQuery I
RowDescription current_user:name
DataRow app_trust
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 3: extended protocol: Parse/Bind/Describe/Execute/Sync with params
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- pg_send
StartupMessage user=app_trust database=hoop_test
Parse s1 "SELECT $1::int + 1 AS next, $2::text IS NULL AS missing" int4 text
Describe S s1
Bind "" s1 "41" NULL
Execute "" 0
Bind "" s1 "1" "x"
Execute "" 0
Sync
Terminate
--- pg_recv
AuthenticationOk
...
ReadyForQuery I
ParseComplete
ParameterDescription int4 text
RowDescription next:int4 missing:bool
BindComplete
DataRow 42 t
CommandComplete "SELECT 1"
BindComplete
DataRow 2 f
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 4: after an error the server skips to Sync (one ErrorResponse)
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- pg_send
StartupMessage user=app_trust database=hoop_test
Parse "" "SELECT 1 / (g - $1::int) FROM generate_series(1, 1) g" int4
Bind "" "" "1"
Execute "" 0
Parse "" "SELECT 2"
Bind "" ""
Execute "" 0
Sync
Query "SELECT 3"
Terminate
--- pg_recv
AuthenticationOk
...
ReadyForQuery I
ParseComplete
BindComplete
ErrorResponse S=ERROR C=22012 M="division by zero"
ReadyForQuery I
RowDescription "?column?:int4"
DataRow 3
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 5: raw_request eval with hostile bytes: an unknown message type
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- raw_request eval
HoopPgWire::encode("StartupMessage user=app_trust database=hoop_test")
. HoopPgWire::message("z", "")
--- pg_recv
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=FATAL C=08P01 M="invalid frontend message type 122"
--- pg_ignore: NoticeResponse



=== TEST 6: an unknown database: FATAL after authentication, then close
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- pg_send
StartupMessage user=app_trust database=hoop_no_such_db
--- pg_recv
AuthenticationOk
ErrorResponse S=FATAL C=3D000 M="database \"hoop_no_such_db\" does not exist"



=== TEST 8: no TLS configured: SSLRequest answered N even with bytes behind it
In clear text there is no TLS boundary to protect, so the gateway goes on
with the startup packet that followed the request.
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- raw_request eval
HoopPgWire::encode("SSLRequest\nStartupMessage user=app_trust database=hoop_test\nTerminate")
--- pg_recv
SSLResponse N
AuthenticationOk
...
ReadyForQuery I



=== TEST 9: TLS configured: bytes sent after SSLRequest, before the handshake, are refused
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_ssl_certificate $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
    }
}
--- raw_request eval
HoopPgWire::encode("SSLRequest\nStartupMessage user=app_trust database=hoop_test")
--- pg_recv
ErrorResponse S=FATAL C=08P01 M="received unencrypted data after SSL request"
--- error_log
hoop pg: client sent unencrypted data after SSLRequest



=== TEST 7: COPY in and out
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg 127.0.0.1:$TEST_NGINX_PG_PORT;
    }
}
--- pg_send
StartupMessage user=app_trust database=hoop_test
Query "CREATE TEMP TABLE t (a int, b text)"
Query "COPY t FROM STDIN"
CopyData "1\tone\n2\t\\N\n"
CopyDone
Query "COPY (SELECT * FROM t ORDER BY a) TO STDOUT"
Terminate
--- pg_recv
AuthenticationOk
...
ReadyForQuery I
CommandComplete "CREATE TABLE"
ReadyForQuery I
CopyInResponse text 2
CommandComplete "COPY 2"
ReadyForQuery I
CopyOutResponse text 2
CopyData "1\tone\n"
CopyData "2\t\\N\n"
CopyDone
CommandComplete "COPY 2"
ReadyForQuery I
