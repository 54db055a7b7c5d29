# Token login to the Postgres gateway: TLS, role profiles, groups, the
# upstream login with vaulted credentials (SCRAM, MD5, cleartext, trust),
# upstream TLS, the gateway's own cancel keys.  Real psql, DBD::Pg and
# pgbench against the test PostgreSQL 15; tokens minted with Crypt::JWT.

use strict;
use warnings;

our ($kit, $token, %tok);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $ENV{TEST_NGINX_PG_GW_PORT2} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 1;

    my %groups = (sre => ['sre'], eng => ['eng'], none => []);

    for my $g (keys %groups) {
        $tok{$g} = $kit->token(key => 'ec256', claims => {
            sub => "user-$g", email => "$g\@example.com",
            groups => $groups{$g},
        });
        # the client scripts read tokens from the environment
        $ENV{"TOKEN_\U$g"} = $tok{$g};
    }

    $ENV{TOKEN_EXPIRED} = $kit->token(claims => {
        groups => ['sre'], exp => time - 3600, iat => time - 7200,
    });
    # just under hoop_oidc's default max_token_size (16k), and over it
    for my $pad (11000 .. 12500) {
        my $t = $kit->token(key => 'ec256', claims => {
            groups => ['sre'], padding => 'p' x $pad,
        });
        if (length($t) > 16384) {
            $ENV{TOKEN_TOO_BIG} = $t;
            last;
        }
        $ENV{TOKEN_BIG} = $t;
    }

    $token = $tok{sre};
}

use Test::Nginx::Socket 'no_plan';
use HoopClient;
use HoopPgWire;

HoopClient::install();
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
    log_format hoop 'session=$hoop_pg_session_id user=$hoop_pg_user '
                    'email=$hoop_pg_email role=$hoop_pg_role '
                    'db=$hoop_pg_database token=$hoop_pg_token_id '
                    'statements=$hoop_pg_statements status=$status '
                    'end="$hoop_pg_end_reason" up=$upstream_addr';

    upstream test_db {
        server 127.0.0.1:$TEST_NGINX_PG_PORT;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        access_log logs/pg-access.log hoop;

        hoop_pg                     test_db;
        hoop_pg_ssl_certificate     $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
        hoop_pg_auth                oidc=test;

        hoop_pg_role writer user=app_scram password=vault:app_scram
                            groups=sre;
        hoop_pg_role reader user=app_ro password=vault:app_ro
                            database=hoop_test groups=eng,sre;
        hoop_pg_role md5    user=app_md5 password=vault:app_md5
                            database=hoop_test;
        hoop_pg_role clear  user=app_clear password=vault:app_clear
                            database=hoop_test;
        hoop_pg_role trust  user=app_trust database=hoop_test;
        hoop_pg_role broken user=app_scram password=not-the-password
                            database=hoop_test;
    }

    # plaintext login, for transcripts (loopback only)
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;

        hoop_pg                 test_db;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl    disable;
        hoop_pg_role trust user=app_trust database=hoop_test;
    }
}
CONF
});

run_tests();

__DATA__

=== TEST 1: psql over verified TLS with a token; the gateway logs in upstream as the profile's user, over TLS
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At \
    "host=localhost user=writer dbname=hoop_test sslmode=verify-full sslrootcert=$TEST_NGINX_PKI/ca.crt" \
    -c "SELECT current_user, current_database()" \
    -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
--- client_output
app_scram|hoop_test
t
--- error_log eval
qr/hoop pg: "user-sre" \(token [0-9a-f]{16}\) logged in with role profile "writer", database "hoop_test"/



=== TEST 2: MD5, cleartext and trust upstream logins
--- client
for role in md5 clear trust; do
    PGPASSWORD=$TOKEN_SRE psql -X -At "user=$role dbname=hoop_test sslmode=require" \
        -c "SELECT current_user"
done
--- client_output
app_md5
app_clear
app_trust



=== TEST 3: a token of 16 KB works; one byte more than max_token_size does not
--- client
echo ${#TOKEN_BIG} | awk '{ print ($1 > 16300 && $1 <= 16384) }'
PGPASSWORD=$TOKEN_BIG psql -X -At "user=trust dbname=hoop_test sslmode=require" -c "SELECT 'big'"
PGPASSWORD=$TOKEN_TOO_BIG psql -X -At "user=trust dbname=hoop_test sslmode=require" -c "SELECT 'too big'"
--- client_exit: 2
--- client_output_like
^1\nbig\n.*FATAL:  the token was rejected



=== TEST 4: login without TLS is refused before a password is asked for
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" -c "SELECT 1"
--- client_exit: 2
--- client_output_like
FATAL:  this gateway requires TLS: connect with sslmode=require



=== TEST 5: an expired token is rejected; the log says why, the client only that it was rejected
--- client
PGPASSWORD=$TOKEN_EXPIRED psql -X -At "user=writer dbname=hoop_test sslmode=require" -c "SELECT 1"
--- client_exit: 2
--- client_output_like
FATAL:  the token was rejected
--- error_log eval
qr/hoop pg: token rejected for role profile "writer": .*expired/



=== TEST 6: garbage instead of a token
--- client
PGPASSWORD=not.a.token psql -X -At "user=writer dbname=hoop_test sslmode=require" -c "SELECT 1"
--- client_exit: 2
--- client_output_like
FATAL:  the token was rejected



=== TEST 7: an unknown role profile
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=nosuch dbname=hoop_test sslmode=require" -c "SELECT 1"
--- client_exit: 2
--- client_output_like
FATAL:  no role profile "nosuch" on this gateway



=== TEST 8: the token's groups do not allow the profile
--- client
PGPASSWORD=$TOKEN_ENG psql -X -At "user=writer dbname=hoop_test sslmode=require" -c "SELECT 1"
PGPASSWORD=$TOKEN_ENG psql -X -At "user=reader dbname=hoop_test sslmode=require" -c "SELECT current_user"
--- client_exit: 0
--- client_output_like
FATAL:  "user-eng" may not use role profile "writer".*\napp_ro$
--- error_log
is in none of the groups of role profile "writer"



=== TEST 9: a profile pinned to a database refuses another
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=reader dbname=postgres sslmode=require" -c "SELECT 1"
--- client_exit: 2
--- client_output_like
FATAL:  role profile "reader" does not give access to database "postgres"



=== TEST 10: the upstream refuses the vaulted credential: the client learns nothing more
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=broken dbname=hoop_test sslmode=require" -c "SELECT 1"
--- client_exit: 2
--- client_output_like
FATAL:  the gateway could not log in to the database server
--- error_log
password authentication failed for user "app_scram"
--- no_error_log
not-the-password



=== TEST 11: BackendKeyData keeps the server's pid (NOTIFY carries it too), the secret key is the gateway's; Ctrl-C still cancels
--- client
PGPASSWORD=$TOKEN_SRE perl -MDBI -e '
    my $dbh = DBI->connect("dbi:Pg:dbname=hoop_test;host=127.0.0.1;port=$ENV{PGPORT};sslmode=require",
                           "writer", $ENV{PGPASSWORD}, { RaiseError => 1 });
    my ($server_pid) = $dbh->selectrow_array("SELECT pg_backend_pid()");
    print $dbh->{pg_pid} == $server_pid ? "same pid\n" : "different pid\n";
'
start=$(date +%s)
PGPASSWORD=$TOKEN_SRE timeout --foreground --preserve-status -s INT 1 \
    psql -X -At "user=writer dbname=hoop_test sslmode=require" -c "SELECT pg_sleep(20)"
echo "exit=$? elapsed<5=$(( $(date +%s) - start < 5 ))"
--- client_output
same pid
Cancel request sent
ERROR:  canceling statement due to user request
exit=1 elapsed<5=1
--- error_log
hoop pg: cancel request forwarded
hoop pg: backend key of pid



=== TEST 12: a cancel request with an unknown key is dropped
--- raw_request eval
HoopPgWire::encode("CancelRequest 12345 67890")
--- pg_recv
--- error_log
hoop pg: cancel request for an unknown session dropped



=== TEST 13: pgbench through token login in the three modes
--- client
for mode in simple extended prepared; do
    PGPASSWORD=$TOKEN_SRE PGSSLMODE=require pgbench -n -M $mode -c 2 -t 50 -U trust hoop_test \
        -f <(echo "SELECT count(*) FROM people WHERE id = 1 + :client_id;") 2>&1 \
        | grep -E '^(number of transactions actually processed|number of failed)'
done
--- client_output
number of transactions actually processed: 100/100
number of failed transactions: 0 (0.000%)
number of transactions actually processed: 100/100
number of failed transactions: 0 (0.000%)
number of transactions actually processed: 100/100
number of failed transactions: 0 (0.000%)



=== TEST 14: a transcript: protocol 3.2 and a _pq_ option get NegotiateProtocolVersion, then the token login
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage protocol=3.2 user=trust database=hoop_test _pq_.test_option=1\nPasswordMessage "$::token"\nQuery "SELECT current_user"\nTerminate})
--- pg_recv
NegotiateProtocolVersion 3.0 _pq_.test_option
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription current_user:name
DataRow app_trust
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 15: a transcript: a message other than a password during login
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=trust database=hoop_test\nQuery "SELECT 1"})
--- pg_recv
AuthenticationCleartextPassword
ErrorResponse S=FATAL C=08P01 M="expected a password message"



=== TEST 16: stream variables in the access log: identity, profile, statements, why it ended
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=require" \
    -c "SELECT 1" -c "SELECT 2; SELECT 3" > /dev/null
PGPASSWORD=$TOKEN_ENG psql -X -At "user=writer dbname=hoop_test sslmode=require" -c "SELECT 1" 2> /dev/null
log=$TEST_NGINX_SERVER_ROOT/logs/pg-access.log
for i in $(seq 50); do [ "$(grep -c session= $log 2>/dev/null)" -ge 2 ] && break; sleep 0.1; done
sed -e 's/session=[0-9a-f]\{16\} /session=ID /' -e 's/token=[0-9a-f]\{16\} /token=TID /' \
    -e 's/up=127.0.0.1:[0-9]*/up=PG/' $log
--- client_output
session=ID user=user-sre email=sre@example.com role=writer db=hoop_test token=TID statements=2 status=200 end="client closed" up=PG
session=ID user=user-eng email=eng@example.com role=- db=hoop_test token=- statements=0 status=400 end="\x22user-eng\x22 may not use role profile \x22writer\x22" up=-
