# The Postgres gateway's upstream side, with token login: upstream TLS
# modes, the SCRAM PBKDF2 cache, server selection in an upstream {} block,
# timeouts and the message size limit, and PostgreSQL 17 direct TLS from
# the client.

use strict;
use warnings;

use IO::Socket::INET ();

our ($kit, $token);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;

    # the gateways listen on the base port and the next three; the two
    # "dead" servers are the base port + 8 and + 9, where nothing listens
    # (some blocks put a silent listener of their own there)
    my $base = $ENV{TEST_NGINX_PG_GW_PORT} // 19432;
    $ENV{"TEST_NGINX_PG_GW_PORT$_"} = $base + $_ - 1 for 2 .. 4;

    for my $n (1, 2) {
        my $port = $base + 7 + $n;
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
            and die "port $port is in use: the dead-server tests need it closed\n";
        $ENV{"TEST_NGINX_DEAD_PORT$n"} = $port;
    }

    $token = $kit->token(key => 'ec256', claims => {
        sub => 'user-sre', email => 'sre@example.com', groups => ['sre'],
    });
    $ENV{TOKEN_SRE} = $token;

    (my $lib = $INC{'HoopToken.pm'}) =~ s{/[^/]+$}{};
    require File::Spec;
    $ENV{HOOP_T_LIB} = File::Spec->rel2abs($lib);

    # pg-talk PORT < transcript: like a pg_send transcript, but a line
    # "-- wait" sends what came before it and waits for the server's next
    # ReadyForQuery (or the end) before going on, so each step lands
    # after the answer to the previous one.  Prints what came back,
    # decoded, without ParameterStatus and BackendKeyData; a server still
    # silent and connected after 5 seconds ends it with "-- no end".
    $ENV{HOOP_PG_TALK} = $kit->dir . '/pg-talk';
    open my $out, '>', $ENV{HOOP_PG_TALK} or die "pg-talk: $!\n";
    print $out <<'PERL';
use strict;
use warnings;
use IO::Socket::INET ();
use HoopPgWire ();

my ($port) = @ARGV;
my @steps = split /^\s*-- wait\s*$/m, do { local $/; <STDIN> };
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
    or die "pg-talk: connect: $!\n";
$SIG{PIPE} = 'IGNORE';

my $got = '';
my $ready = sub { scalar grep { /^ReadyForQuery/ } HoopPgWire::decode($got) };
my $show = sub {
    print map { "$_\n" }
          grep { !/^(?:ParameterStatus|BackendKeyData) / } HoopPgWire::decode($got);
};

$SIG{ALRM} = sub { $show->(); print "-- no end\n"; exit 0 };
alarm 5;

for my $i (0 .. $#steps) {
    my $before = $ready->();
    print $s HoopPgWire::encode($steps[$i]);
    last if $i == $#steps;
    while ($ready->() == $before) {
        last if !$s->sysread($got, 65536, length $got);
    }
}
1 while $s->sysread($got, 65536, length $got);
$show->();
PERL
    close $out;
}

use Test::Nginx::Socket 'no_plan';
use HoopClient;
use HoopPgWire;

HoopClient::install();
HoopPgWire::install();

repeat_each(1);
no_shuffle();

# A block's "pg_servers" section holds its stream servers (and upstream
# blocks); the OIDC provider, the vault, the access log format and the
# test_db upstream around them are the same for every block.
add_block_preprocessor(sub {
    my ($block) = @_;

    return if defined $block->main_config;

    my $servers = $block->pg_servers // <<'SERVERS';
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg                 test_db;
    hoop_pg_auth            oidc=test;
    hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram
                        database=hoop_test groups=sre;
}
SERVERS

    $block->set_value('main_config', <<"CONF");
hoop_oidc test issuer=\$TEST_NGINX_ISSUER audience=hoop
          jwks=\$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=\$TEST_NGINX_VAULT;

stream {
    log_format hoop 'role=\$hoop_pg_role status=\$status up=\$upstream_addr';
    access_log logs/pg-access.log hoop;

    upstream test_db {
        server 127.0.0.1:\$TEST_NGINX_PG_PORT;
    }

$servers
}
CONF
});

run_tests();

__DATA__

=== TEST 1: upstream TLS modes: disable, prefer (the test server has TLS), require, verify-full with the test CA and name
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
    hoop_pg_upstream_ssl disable;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
    hoop_pg_upstream_ssl prefer;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT3;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
    hoop_pg_upstream_ssl require;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT4;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
    hoop_pg_upstream_ssl verify-full ca=$TEST_NGINX_PKI/ca.crt name=localhost;
}
--- client
for port in $TEST_NGINX_PG_GW_PORT $TEST_NGINX_PG_GW_PORT2 $TEST_NGINX_PG_GW_PORT3 $TEST_NGINX_PG_GW_PORT4; do
    PGPASSWORD=$TOKEN_SRE psql -X -At "port=$port user=writer dbname=hoop_test sslmode=disable" \
        -c "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
done
--- client_output
app_scram|f
app_scram|t
app_scram|t
app_scram|t



=== TEST 2: verify-full against a certificate for another name, or with a CA that did not sign it: the client learns only that the login failed
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
    hoop_pg_upstream_ssl verify-full ca=$TEST_NGINX_PKI/ca.crt name=db.example.com;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
    # a leaf certificate of the same CA, not the CA: the chain does not verify
    hoop_pg_upstream_ssl verify-full ca=$TEST_NGINX_PKI/gateway.crt name=localhost;
}
--- client
for port in $TEST_NGINX_PG_GW_PORT $TEST_NGINX_PG_GW_PORT2; do
    PGPASSWORD=$TOKEN_SRE psql -X -At "port=$port user=writer dbname=hoop_test sslmode=disable" \
        -c "SELECT 1" 2>&1 | sed 's/.*FATAL: */FATAL: /'
done
--- client_output
FATAL: the gateway could not log in to the database server
FATAL: the gateway could not log in to the database server
--- error_log eval
[
    'hoop pg: upstream certificate does not match "db.example.com"',
    qr/hoop pg: upstream certificate verify error: \(\d+:.*certificate/,
    'upstream login for role profile "writer" failed: upstream certificate name mismatch',
    'upstream login for role profile "writer" failed: upstream certificate not trusted',
]



=== TEST 3: verify-full without ca= does not start
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
    hoop_pg_upstream_ssl verify-full name=localhost;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*hoop_pg_upstream_ssl verify-full needs ca=FILE and name=HOST/



=== TEST 4: verify-full without name= does not start
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
    hoop_pg_upstream_ssl verify-full ca=$TEST_NGINX_PKI/ca.crt;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*hoop_pg_upstream_ssl verify-full needs ca=FILE and name=HOST/



=== TEST 5: the SCRAM PBKDF2 result is cached: two logins with one role compute it once
--- client
for i in 1 2; do
    PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" -c "SELECT $i, current_user"
done
--- client_output
1|app_scram
2|app_scram
--- grep_error_log eval
qr/hoop pg: SCRAM PBKDF2, \d+ iterations/
--- grep_error_log_out
hoop pg: SCRAM PBKDF2, 4096 iterations



=== TEST 6: ... per credential: two roles, two computations (so TEST 5 counts a cache hit, not a missing log line)
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg                 test_db;
    hoop_pg_auth            oidc=test;
    hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram
                        database=hoop_test groups=sre;
    hoop_pg_role reader user=app_ro password=vault:app_ro
                        database=hoop_test groups=sre;
}
--- client
for role in writer reader writer reader; do
    PGPASSWORD=$TOKEN_SRE psql -X -At "user=$role dbname=hoop_test sslmode=disable" -c "SELECT current_user"
done
--- client_output
app_scram
app_ro
app_scram
app_ro
--- grep_error_log eval
qr/hoop pg: SCRAM PBKDF2, \d+ iterations/
--- grep_error_log_out
hoop pg: SCRAM PBKDF2, 4096 iterations
hoop pg: SCRAM PBKDF2, 4096 iterations



=== TEST 7: an upstream {} block whose first server is down: the first session moves on to the second server, later ones skip the failed one; a backup server takes over from a dead primary
With max_fails=1 (the default) the failed peer is out for fail_timeout,
so only the first session tries it: one connect() failure in the log, and
$upstream_addr names both servers for that session only.
--- pg_servers
upstream first_dead {
    server 127.0.0.1:$TEST_NGINX_DEAD_PORT1;
    server 127.0.0.1:$TEST_NGINX_PG_PORT;
}
upstream primary_dead {
    server 127.0.0.1:$TEST_NGINX_DEAD_PORT2;
    server 127.0.0.1:$TEST_NGINX_PG_PORT backup;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg first_dead; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram
                        database=hoop_test groups=sre;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;
    hoop_pg primary_dead; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role backup user=app_scram password=vault:app_scram
                        database=hoop_test groups=sre;
}
--- client
for i in 1 2 3 4; do
    PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" -c "SELECT $i"
done
PGPASSWORD=$TOKEN_SRE psql -X -At "port=$TEST_NGINX_PG_GW_PORT2 user=backup dbname=hoop_test sslmode=disable" -c "SELECT 'backup'"
log=$TEST_NGINX_SERVER_ROOT/logs/pg-access.log
for i in $(seq 50); do [ "$(grep -c role= $log 2>/dev/null)" -ge 5 ] && break; sleep 0.1; done
sed -e "s/:$TEST_NGINX_DEAD_PORT1\b/:DEAD1/g" -e "s/:$TEST_NGINX_DEAD_PORT2\b/:DEAD2/g" \
    -e "s/:$TEST_NGINX_PG_PORT\b/:PG/g" $log
--- client_output
1
2
3
4
backup
role=writer status=200 up=127.0.0.1:DEAD1, 127.0.0.1:PG
role=writer status=200 up=127.0.0.1:PG
role=writer status=200 up=127.0.0.1:PG
role=writer status=200 up=127.0.0.1:PG
role=backup status=200 up=127.0.0.1:DEAD2, 127.0.0.1:PG
--- grep_error_log eval
qr/connect\(\) failed \(111: Connection refused\)/
--- grep_error_log_out
connect() failed (111: Connection refused)
connect() failed (111: Connection refused)



=== TEST 8: only dead servers: FATAL 08006 after the token login, in the transcript
--- pg_servers
upstream all_dead {
    server 127.0.0.1:$TEST_NGINX_DEAD_PORT1;
    server 127.0.0.1:$TEST_NGINX_DEAD_PORT2;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg all_dead; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram
                        database=hoop_test groups=sre;
}
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "SELECT 1"
Terminate})
--- pg_port: $TEST_NGINX_PG_GW_PORT
--- pg_recv
AuthenticationCleartextPassword
ErrorResponse S=FATAL C=08006 M="the database server is unavailable"
--- error_log
hoop pg: no upstream server could be reached



=== TEST 9: only dead servers, for psql: an upstream {} block and a single address
--- pg_servers
upstream all_dead {
    server 127.0.0.1:$TEST_NGINX_DEAD_PORT1;
    server 127.0.0.1:$TEST_NGINX_DEAD_PORT2;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg all_dead; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;
    hoop_pg 127.0.0.1:$TEST_NGINX_DEAD_PORT1; hoop_pg_auth oidc=test;
    hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- client
for port in $TEST_NGINX_PG_GW_PORT $TEST_NGINX_PG_GW_PORT2; do
    PGPASSWORD=$TOKEN_SRE psql -X -At "port=$port user=writer dbname=hoop_test sslmode=disable" \
        -c "SELECT 1" 2>&1 | sed 's/.*FATAL: */FATAL: /'
done
--- client_output
FATAL: the database server is unavailable
FATAL: the database server is unavailable



=== TEST 10: hoop_pg_startup_timeout: half a startup packet, then silence: FATAL 08P01 after the timeout
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_startup_timeout 1s;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- raw_request eval
substr(HoopPgWire::encode("StartupMessage user=writer database=hoop_test"), 0, 20)
--- pg_port: $TEST_NGINX_PG_GW_PORT
--- timeout: 5
--- pg_recv
ErrorResponse S=FATAL C=08P01 M="timeout waiting for the startup packet"
--- error_log
hoop pg: client timed out sending its startup packet



=== TEST 11: hoop_pg_startup_timeout: a startup packet but no password: FATAL 08P01 after the timeout
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_startup_timeout 1s;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- raw_request eval
HoopPgWire::encode("StartupMessage user=writer database=hoop_test")
. substr(HoopPgWire::encode(qq{PasswordMessage "$::token"}), 0, 100)
--- pg_port: $TEST_NGINX_PG_GW_PORT
--- timeout: 5
--- pg_recv
AuthenticationCleartextPassword
ErrorResponse S=FATAL C=08P01 M="timeout waiting for the password"
--- error_log
hoop pg: client timed out during login



=== TEST 12: hoop_pg_idle_timeout: a session silent for longer is closed, the next query fails
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_idle_timeout 1s;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" <<'SQL'
SELECT 1;
\! sleep 2
SELECT 2;
SQL
--- client_exit: 2
--- client_output_like
^1\nserver closed the connection unexpectedly\n.*connection to server was lost\n$
--- error_log
hoop pg: session idle, closing



=== TEST 13: hoop_pg_idle_timeout: traffic restarts the timer: pauses shorter than the timeout add up to more than it
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_idle_timeout 1s;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" <<'SQL'
SELECT 1;
\! sleep 0.4
SELECT 2;
\! sleep 0.4
SELECT 3;
\! sleep 0.4
SELECT 4;
SQL
--- client_output
1
2
3
4
--- no_error_log
hoop pg: session idle, closing



=== TEST 14: hoop_pg_max_message_size 1k: a message of exactly 1024 bytes passes, one of 1025 gets FATAL 54000
A Query message is 4 (length) + the SQL + 1 (NUL) bytes long, the type
byte not counted: 1019 and 1020 bytes of SQL.  Each query goes out after
the answer to the one before.
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_max_message_size 1k;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- client
# SELECT length('...') AS n: 22 bytes around the x's
sql() { printf "SELECT length('%s') AS n" "$(head -c $(($1 - 22)) /dev/zero | tr '\0' x)"; }
echo "SQL of $(sql 1019 | wc -c) and $(sql 1020 | wc -c) bytes"
perl -I"$HOOP_T_LIB" "$HOOP_PG_TALK" $TEST_NGINX_PG_GW_PORT <<EOF
StartupMessage user=writer database=hoop_test
PasswordMessage "$TOKEN_SRE"
-- wait
Query "$(sql 1019)"
-- wait
Query "$(sql 1020)"
-- wait
Query "SELECT 'not reached'"
Terminate
EOF
--- client_output
SQL of 1019 and 1020 bytes
AuthenticationCleartextPassword
AuthenticationOk
ReadyForQuery I
RowDescription n:int4
DataRow 997
CommandComplete "SELECT 1"
ReadyForQuery I
ErrorResponse S=FATAL C=54000 M="message too long for the gateway (hoop_pg_max_message_size)"
--- error_log
hoop pg: client sent a 1025 byte message, over hoop_pg_max_message_size 1024



=== TEST 15: hoop_pg_max_message_size 1k: psql sending a 2 KB query gets FATAL 54000
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_max_message_size 1k;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" \
    -c "SELECT 'short'" -c "SELECT length('$(head -c 2048 /dev/zero | tr '\0' x)')"
--- client_exit: 2
--- client_output_like
^short\nFATAL:  message too long for the gateway \(hoop_pg_max_message_size\)\n
--- error_log eval
qr/hoop pg: client sent a 20\d\d byte message, over hoop_pg_max_message_size 1024/



=== TEST 16: PostgreSQL 17 direct TLS: a client starting TLS at once with ALPN "postgresql" logs in with a token and gets rows; without ALPN, or on a server without TLS, it is refused
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg                     test_db;
    hoop_pg_ssl_certificate     $TEST_NGINX_PKI/gateway.crt;
    hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
    hoop_pg_auth                oidc=test;
    hoop_pg_role writer user=app_scram password=vault:app_scram
                        database=hoop_test groups=sre;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- client
direct() {
    perl -I"$HOOP_T_LIB" -MHoopPgWire -MIO::Socket::SSL -e '
        my ($port, @alpn) = @ARGV;
        $SIG{PIPE} = "IGNORE";
        my $s = IO::Socket::SSL->new(
            PeerHost => "127.0.0.1", PeerPort => $port,
            SSL_ca_file => "$ENV{TEST_NGINX_PKI}/ca.crt",
            SSL_verifycn_scheme => "default", SSL_verifycn_name => "localhost",
            SSL_hostname => "localhost",
            @alpn ? (SSL_alpn_protocols => \@alpn) : ());
        if (!$s) { print "no TLS session\n"; exit }
        print "TLS, ALPN ", $s->alpn_selected // "none", "\n";
        print $s HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$ENV{TOKEN_SRE}"
Query "SELECT current_user, 42 AS answer"
Terminate});
        my $got = "";
        1 while $s->sysread($got, 65536, length $got);
        my @lines = grep { !/^(ParameterStatus|BackendKeyData) / } HoopPgWire::decode($got);
        print @lines ? map({ "$_\n" } @lines) : "nothing\n";
    ' "$@"
}
echo "-- ALPN postgresql"; direct $TEST_NGINX_PG_GW_PORT postgresql
echo "-- no ALPN"; direct $TEST_NGINX_PG_GW_PORT
echo "-- ALPN http/1.1 only"; direct $TEST_NGINX_PG_GW_PORT http/1.1
echo "-- no TLS on this server"; direct $TEST_NGINX_PG_GW_PORT2 postgresql
--- client_output
-- ALPN postgresql
TLS, ALPN postgresql
AuthenticationCleartextPassword
AuthenticationOk
ReadyForQuery I
RowDescription current_user:name answer:int4
DataRow app_scram 42
CommandComplete "SELECT 1"
ReadyForQuery I
-- no ALPN
TLS, ALPN none
nothing
-- ALPN http/1.1 only
no TLS session
-- no TLS on this server
no TLS session
--- error_log
hoop pg: direct TLS without ALPN "postgresql"
hoop pg: client started a direct TLS handshake but no TLS is configured for this server
--- grep_error_log eval
qr/logged in with role profile "writer"/
--- grep_error_log_out
logged in with role profile "writer"



=== TEST 17: hoop_pg_connect_timeout: a server that never answers the TCP handshake is given up after the timeout, the next one serves the session
The "dead" server is a listener whose accept queue is full (two connections
nobody accepts), so the kernel drops further SYNs: connect() hangs.
--- pg_servers
upstream first_hangs {
    server 127.0.0.1:$TEST_NGINX_DEAD_PORT1;
    server 127.0.0.1:$TEST_NGINX_PG_PORT;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg first_hangs; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_connect_timeout 500ms;
    hoop_pg_role writer user=app_scram password=vault:app_scram
                        database=hoop_test groups=sre;
}
--- client
exec 3< <(exec perl -MIO::Socket::INET -e '
    my $port = shift;
    my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $port,
                                  Listen => 1, ReuseAddr => 1) or die "listen: $!\n";
    my @queued = map { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") } 1 .. 2;
    $| = 1;
    print "queue full\n";
    sleep 60;' $TEST_NGINX_DEAD_PORT1)
hang=$!
read -r -u 3 line; echo "$line"
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" -c "SELECT 'served'"
kill $hang
--- client_output
queue full
served
--- error_log eval
qr/hoop pg: upstream 127\.0\.0\.1:\d+ timed out while connecting/



=== TEST 18: an upstream that accepts the connection and never speaks: the login gives up after hoop_pg_startup_timeout, with TLS (SSLRequest unanswered) and without (startup unanswered)
The listener's accept queue has room: the kernel completes the TCP
handshake, nobody reads.
--- pg_servers
upstream silent {
    server 127.0.0.1:$TEST_NGINX_DEAD_PORT1;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg silent; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_startup_timeout 1s;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;
    hoop_pg silent; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_startup_timeout 1s;
    hoop_pg_upstream_ssl disable;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- client
exec 3< <(exec perl -MIO::Socket::INET -e '
    my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => shift,
                                  Listen => 16, ReuseAddr => 1) or die "listen: $!\n";
    $| = 1;
    print "listening\n";
    sleep 60;' $TEST_NGINX_DEAD_PORT1)
silent=$!
read -r -u 3 line; echo "$line"
for port in $TEST_NGINX_PG_GW_PORT $TEST_NGINX_PG_GW_PORT2; do
    PGPASSWORD=$TOKEN_SRE psql -X -At "port=$port user=writer dbname=hoop_test sslmode=disable" \
        -c "SELECT 1" 2>&1 | sed 's/.*FATAL: */FATAL: /'
done
kill $silent
--- client_output
listening
FATAL: the gateway could not log in to the database server
FATAL: the gateway could not log in to the database server
--- error_log
upstream login for role profile "writer" failed: timeout waiting for the SSLRequest answer
hoop pg: upstream timed out during login



=== TEST 19: verify-full with name= an IP address the certificate lists as an IP SAN, as libpq accepts
The test server's certificate has "IP:127.0.0.1"; libpq's verify-full
with host=127.0.0.1 accepts it, and so does the gateway (IP names are
checked against the certificate's IP addresses, not its DNS names).
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
    hoop_pg_upstream_ssl verify-full ca=$TEST_NGINX_PKI/ca.crt name=127.0.0.1;
}
--- client
psql -X -At "port=$TEST_NGINX_PG_PORT user=app_trust dbname=hoop_test sslmode=verify-full sslrootcert=$TEST_NGINX_PKI/ca.crt" \
    -c "SELECT 'libpq: ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" \
    -c "SELECT 'gateway: ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
--- client_output
libpq: true
gateway: true



=== TEST 20: hoop_pg_idle_timeout does not close a session whose query is still running
A statement that sends nothing for longer than the timeout (pg_sleep here;
a big CREATE INDEX or report in real life) is not idleness.
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_idle_timeout 1s;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" \
    -c "SELECT pg_sleep(2), 'still connected'"
--- client_output
|still connected



=== TEST 21: a client message with a length below 4 after login ends the session
As PostgreSQL ("invalid message length"): a FATAL 08P01, then close.
--- client
perl -I"$HOOP_T_LIB" "$HOOP_PG_TALK" $TEST_NGINX_PG_GW_PORT <<EOF
StartupMessage user=writer database=hoop_test
PasswordMessage "$TOKEN_SRE"
-- wait
Query "SELECT 1 AS one"
-- wait
raw 5100000002
Query "SELECT 2"
Terminate
EOF
--- client_output_like
^AuthenticationCleartextPassword
AuthenticationOk
ReadyForQuery I
RowDescription one:int4
DataRow 1
CommandComplete "SELECT 1"
ReadyForQuery I
(?:ErrorResponse S=FATAL C=08P01 [^\n]*\n)?\z



=== TEST 22: a message over hoop_pg_max_message_size that arrives together with earlier ones
Everything in one write: the password, a query that fits, one that does
not.  The client still gets what the server had already said (the login
and its greeting), then the FATAL; the session ends at once, so messages
that arrived in the same read as the oversized one are not relayed.
--- pg_servers
server {
    listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
    hoop_pg test_db; hoop_pg_auth oidc=test; hoop_pg_plaintext_login on;
    hoop_pg_max_message_size 1k;
    hoop_pg_role writer user=app_scram password=vault:app_scram groups=sre;
}
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "SELECT 'fits' AS v"})
. HoopPgWire::message('Q', HoopPgWire::cstr('SELECT ' . ('1' x 1100)))
. HoopPgWire::encode("Terminate")
--- pg_port: $TEST_NGINX_PG_GW_PORT
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=FATAL C=54000 M="message too long for the gateway (hoop_pg_max_message_size)"
