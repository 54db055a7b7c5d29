# Relay flows after the gateway's own token login: transcripts of the
# simple and extended protocols (pipelines, errors, Flush), notices,
# LISTEN/NOTIFY, ParameterStatus, COPY both ways; real clients (psycopg2,
# DBD::Pg, psql) through token login, startup parameters passed on; a
# 64 MB value and 5 million rows with the gateway's memory bounded.

use strict;
use warnings;

our ($kit, $token);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $ENV{TEST_NGINX_PG_GW_PORT2} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 1;

    # valid for the whole suite (the 5-million-row block takes a while)
    $token = $kit->token(key => 'ec256', ttl => 3600, claims => {
        sub => 'user-sre', email => 'sre@example.com', groups => ['sre'],
    });
    # the client scripts read the token from the environment
    $ENV{TOKEN_SRE} = $token;

    # the client scripts load HoopPgWire too
    (my $lib = $INC{'HoopToken.pm'}) =~ s{/[^/]+$}{};
    require File::Spec;
    $ENV{HOOP_T_LIB} = File::Spec->rel2abs($lib);
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
    upstream test_db {
        server 127.0.0.1:$TEST_NGINX_PG_PORT;
    }

    # real clients: TLS, token login
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                     test_db;
        hoop_pg_ssl_certificate     $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
        hoop_pg_auth                oidc=test;

        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_pg_role trust  user=app_trust database=hoop_test;
    }

    # transcripts: plaintext token login (loopback only)
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;

        hoop_pg                 test_db;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
    }
}
CONF
});

# The memory block leaves the gateway's figures for the report.
add_response_body_check(sub {
    my ($block) = @_;

    return unless defined $block->memory_report;

    my $file = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/memory.txt";
    if (open my $in, '<', $file) {
        local $/;
        chomp(my $figures = <$in> // "");
        Test::More::diag($block->name . ": " . $figures);
    }
});

run_tests();

__DATA__

=== TEST 1: simple Query with several statements and an error in the middle; the server's startup ParameterStatus burst arrives verbatim
The implicit transaction stops at the error: one ErrorResponse, one
ReadyForQuery, "SELECT 3" never runs; the next Query runs normally.
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "SELECT 1 AS a; SELECT 1/0 AS b; SELECT 3 AS c"
Query "SELECT 4 AS d"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
ParameterStatus application_name ""
ParameterStatus client_encoding UTF8
ParameterStatus DateStyle "ISO, MDY"
ParameterStatus default_transaction_read_only off
ParameterStatus in_hot_standby off
ParameterStatus integer_datetimes on
ParameterStatus IntervalStyle postgres
ParameterStatus is_superuser off
ParameterStatus server_encoding UTF8
ParameterStatus server_version /^15\./
ParameterStatus session_authorization app_scram
ParameterStatus standard_conforming_strings on
ParameterStatus TimeZone UTC
BackendKeyData * *
ReadyForQuery I
RowDescription a:int4
DataRow 1
CommandComplete "SELECT 1"
ErrorResponse S=ERROR C=22012 M="division by zero"
ReadyForQuery I
RowDescription d:int4
DataRow 4
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 2: extended protocol: unnamed and named statements, Describe, a portal suspended and resumed, Close, a named statement across Syncs
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Parse "" "SELECT \$1::int + 1 AS n" int4
Bind "" "" 41
Describe P ""
Execute ""
Parse s1 "SELECT g, \$1::text AS t FROM generate_series(1, 5) g"
Describe S s1
Bind p1 s1 x
Execute p1 2
Execute p1 0
Close P p1
Parse s2 "SELECT 'named' AS v"
Sync
Bind "" s2
Execute ""
Close S s1
Close S s2
Sync
Bind "" s1 y
Execute ""
Sync
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ParseComplete
BindComplete
RowDescription n:int4
DataRow 42
CommandComplete "SELECT 1"
ParseComplete
ParameterDescription text
RowDescription g:int4 t:text
BindComplete
DataRow 1 x
DataRow 2 x
PortalSuspended
DataRow 3 x
DataRow 4 x
DataRow 5 x
CommandComplete "SELECT 3"
CloseComplete
ParseComplete
ReadyForQuery I
BindComplete
DataRow named
CommandComplete "SELECT 1"
CloseComplete
CloseComplete
ReadyForQuery I
ErrorResponse S=ERROR C=26000 M="prepared statement \"s1\" does not exist"
ReadyForQuery I



=== TEST 3: a pipeline of Parse/Bind/Execute with one Sync and an error in the middle: one ErrorResponse, the rest skipped until Sync, one ReadyForQuery
The division by zero happens when the third Execute runs (not when it is
planned); the first INSERT is rolled back with the implicit transaction:
the count after the pipeline is 0.
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "CREATE TEMP TABLE p (a int)"
Parse "" "INSERT INTO p VALUES (1)"
Bind "" ""
Execute ""
Parse "" "SELECT 1/g FROM generate_series(0, 0) g"
Bind "" ""
Execute ""
Parse "" "INSERT INTO p VALUES (3)"
Bind "" ""
Execute ""
Parse "" "SELECT 4"
Bind "" ""
Execute ""
Sync
Query "SELECT count(*) AS n FROM p"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
CommandComplete "CREATE TABLE"
ReadyForQuery I
ParseComplete
BindComplete
CommandComplete "INSERT 0 1"
ParseComplete
BindComplete
ErrorResponse S=ERROR C=22012 M="division by zero"
ReadyForQuery I
RowDescription n:int8
DataRow 0
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 4: a pipeline with a Sync after each statement: the error ends only its own segment
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Parse "" "SELECT 1"
Bind "" ""
Execute ""
Sync
Parse "" "SELECT nosuchcolumn"
Bind "" ""
Execute ""
Sync
Parse "" "SELECT 3"
Bind "" ""
Execute ""
Sync
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ParseComplete
BindComplete
DataRow 1
CommandComplete "SELECT 1"
ReadyForQuery I
ErrorResponse S=ERROR C=42703 M="column \"nosuchcolumn\" does not exist"
ReadyForQuery I
ParseComplete
BindComplete
DataRow 3
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 5: Flush without Sync: the server's answers reach the client before any Sync, then the client terminates
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Parse "" "SELECT 42 AS answer"
Bind "" ""
Describe P ""
Execute ""
Flush
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ParseComplete
BindComplete
RowDescription answer:int4
DataRow 42
CommandComplete "SELECT 1"



=== TEST 6: the same without the Flush: the server keeps its answers until a Sync or Flush, so nothing comes (what makes TEST 5 a test of Flush)
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Parse "" "SELECT 42 AS answer"
Bind "" ""
Describe P ""
Execute ""
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I



=== TEST 7: notices: RAISE NOTICE and a WARNING with detail and hint
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "DO \\\$\\\$ BEGIN RAISE NOTICE 'hello'; END \\\$\\\$"
Query "DO \\\$\\\$ BEGIN RAISE WARNING 'careful' USING DETAIL = 'some detail', HINT = 'a hint'; END \\\$\\\$"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
NoticeResponse S=NOTICE C=00000 M=hello
CommandComplete DO
ReadyForQuery I
NoticeResponse S=WARNING C=01000 M=careful D="some detail" H="a hint"
CommandComplete DO
ReadyForQuery I



=== TEST 8: LISTEN/NOTIFY within a session: the NotificationResponse arrives
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "LISTEN hoop_ch"
Query "NOTIFY hoop_ch, 'payload one'"
Query "SELECT pg_notify('hoop_ch', 'two') IS NULL AS sent"
Query "UNLISTEN hoop_ch"
Query "NOTIFY hoop_ch, 'not heard'"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
CommandComplete LISTEN
ReadyForQuery I
CommandComplete NOTIFY
NotificationResponse /^\d+$/ hoop_ch "payload one"
ReadyForQuery I
RowDescription sent:bool
DataRow f
CommandComplete "SELECT 1"
NotificationResponse /^\d+$/ hoop_ch two
ReadyForQuery I
CommandComplete UNLISTEN
ReadyForQuery I
CommandComplete NOTIFY
ReadyForQuery I



=== TEST 9: a ParameterStatus burst: SET application_name, TimeZone, DateStyle, IntervalStyle in one Query
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "SET application_name = 'flows'; SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'iso_8601'"
Query "SELECT timestamptz '2024-01-02 03:04:05+00' AS t, interval '1 day' AS i"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
CommandComplete SET
CommandComplete SET
CommandComplete SET
CommandComplete SET
ParameterStatus application_name flows
ParameterStatus DateStyle "SQL, DMY"
ParameterStatus IntervalStyle iso_8601
ParameterStatus TimeZone Asia/Tokyo
ReadyForQuery I
RowDescription t:timestamptz i:interval
DataRow "02/01/2024 12:04:05 JST" P1D
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 10: COPY FROM STDIN given up with CopyFail, then a COPY FROM STDIN that completes, a bad row mid-copy, and COPY TO STDOUT
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "CREATE TEMP TABLE c (a int, b text)"
Query "COPY c FROM STDIN"
CopyData "1\\tone\\n"
CopyFail "client gave up"
Query "COPY c FROM STDIN"
CopyData "2\\ttwo\\n3\\t\\\\N\\n"
CopyDone
Query "COPY c FROM STDIN"
CopyData "4\\tfour\\n"
CopyData "not a number\\tfive\\n"
CopyData "6\\tsix\\n"
CopyDone
Query "COPY (SELECT a, coalesce(b, 'null') FROM c ORDER BY a) TO STDOUT"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
CommandComplete "CREATE TABLE"
ReadyForQuery I
CopyInResponse text 2
ErrorResponse S=ERROR C=57014 M="COPY from stdin failed: client gave up"
ReadyForQuery I
CopyInResponse text 2
CommandComplete "COPY 2"
ReadyForQuery I
CopyInResponse text 2
ErrorResponse S=ERROR C=22P02 M="invalid input syntax for type integer: \"not a number\""
ReadyForQuery I
CopyOutResponse text 2
CopyData "2\ttwo\n"
CopyData "3\tnull\n"
CopyDone
CommandComplete "COPY 2"
ReadyForQuery I



=== TEST 11: every message split across 7-byte packets: the gateway reassembles password, queries and copy data
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
[unpack '(a7)*', HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "SELECT 'split' AS s"
Parse "" "SELECT \$1::int * 2 AS d" int4
Bind "" "" 21
Execute ""
Sync
Query "COPY (SELECT 1 AS a, 'x' AS b) TO STDOUT"
Terminate})]
--- raw_request_middle_delay: 0.002
--- timeout: 10
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription s:text
DataRow split
CommandComplete "SELECT 1"
ReadyForQuery I
ParseComplete
BindComplete
DataRow 42
CommandComplete "SELECT 1"
ReadyForQuery I
CopyOutResponse text 2
CopyData "1\tx\n"
CopyDone
CommandComplete "COPY 1"
ReadyForQuery I



=== TEST 12: psycopg2 through token login: parameters, a cancel while idle is dropped (the next statement runs), a cancel while busy cancels
--- client
/usr/bin/python3 - <<'PY'
import os, threading, time
import psycopg2, psycopg2.errors

conn = psycopg2.connect(host="127.0.0.1", port=int(os.environ["PGPORT"]),
                        user="writer", dbname="hoop_test",
                        password=os.environ["TOKEN_SRE"], sslmode="require")
cur = conn.cursor()
cur.execute("SELECT current_user, %s::int + %s::int, %s", (40, 2, "it's"))
print(cur.fetchone())
conn.rollback()

conn.cancel()               # nothing runs: the gateway drops it
cur.execute("SELECT 'after the idle cancel'")
print(cur.fetchone()[0])
conn.rollback()

def cancel_soon():
    time.sleep(0.5)
    conn.cancel()

t = threading.Thread(target=cancel_soon)
t.start()
try:
    cur.execute("SELECT pg_sleep(20)")
    print("not cancelled")
except psycopg2.errors.QueryCanceled as e:
    print("cancelled:", e.pgcode)
t.join()
conn.rollback()
cur.execute("SELECT 'still usable'")
print(cur.fetchone()[0])
conn.close()
PY
--- client_output
('app_scram', 42, "it's")
after the idle cancel
cancelled: 57014
still usable
--- error_log
hoop pg: cancel request for an idle session dropped
hoop pg: cancel request forwarded



=== TEST 13: psycopg2: a notification from another session reaches a listener that waits idle
The notifier's real backend pid (pg_backend_pid(), not the gateway's
BackendKeyData) is what the notification carries.
--- client
/usr/bin/python3 - <<'PY'
import os, select
import psycopg2

def connect():
    c = psycopg2.connect(host="127.0.0.1", port=int(os.environ["PGPORT"]),
                         user="writer", dbname="hoop_test",
                         password=os.environ["TOKEN_SRE"], sslmode="require")
    c.autocommit = True
    return c

listener, notifier = connect(), connect()
listener.cursor().execute("LISTEN hoop_flows")
cur = notifier.cursor()
cur.execute("SELECT pg_backend_pid()")
notifier_pid = cur.fetchone()[0]
cur.execute("NOTIFY hoop_flows, 'from the other session'")

ready = select.select([listener], [], [], 10)[0]
listener.poll()
for n in listener.notifies:
    print(n.channel, n.payload, n.pid == notifier_pid)
print("waited" if ready else "timed out")
PY
--- client_output
hoop_flows from the other session True
waited



=== TEST 14: DBD::Pg through token login: server-side prepared statements with placeholders, an error, COPY in and out
--- client
perl -MDBI -e '
    my $dbh = DBI->connect("dbi:Pg:dbname=hoop_test;host=127.0.0.1;port=$ENV{PGPORT};sslmode=require",
                           "writer", $ENV{TOKEN_SRE},
                           { RaiseError => 1, PrintError => 0, AutoCommit => 1,
                             pg_server_prepare => 1 });
    my $sth = $dbh->prepare("SELECT id, name FROM people WHERE id = ? OR id = ? ORDER BY id");
    for my $pair ([1, 2], [3, 4]) {
        $sth->execute(@$pair);
        while (my $r = $sth->fetchrow_arrayref) { print "$r->[0] $r->[1]\n" }
    }
    eval { $dbh->selectrow_array("SELECT 1 / ?::int", undef, 0) };
    print "error ", $dbh->state, "\n";
    $dbh->do("CREATE TEMP TABLE c (a int, b text)");
    $dbh->do("COPY c FROM STDIN");
    $dbh->pg_putcopydata("$_\tv$_\n") for 1 .. 1000;
    $dbh->pg_putcopyend;
    $dbh->do("COPY (SELECT a, b FROM c WHERE a % 250 = 0 ORDER BY a) TO STDOUT");
    my $row;
    print $row while $dbh->pg_getcopydata($row) >= 0;
    print join(",", $dbh->selectrow_array("SELECT count(*), sum(a) FROM c")), "\n";
'
--- client_output
1 Alice Anders
2 Bob Brown
3 Carol Chen
4 Dave Diaz
error 22012
250	v250
500	v500
750	v750
1000	v1000
1000,500500



=== TEST 15: psql \copy in and out through token login: 100000 rows come back byte for byte
--- client
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
seq 1 100000 | awk '{ printf "%d\trow %d\n", $1, $1 }' > "$dir/in"
PGPASSWORD=$TOKEN_SRE psql -X -q -At -v ON_ERROR_STOP=1 "user=writer dbname=hoop_test sslmode=require" <<SQL
CREATE TEMP TABLE t (a int, b text);
\copy t FROM '$dir/in'
SELECT count(*), sum(a) FROM t;
\copy (SELECT a, b FROM t ORDER BY a) TO '$dir/out'
SQL
cmp "$dir/in" "$dir/out" && echo identical
--- client_output
100000|5000050000
identical



=== TEST 16: startup parameters pass through token login: application_name, options (search_path), TimeZone, DateStyle, client_encoding
--- client
PGPASSWORD=$TOKEN_SRE PGAPPNAME=hoop-flows PGOPTIONS="-c search_path=billing -c work_mem=7MB" \
PGTZ=Asia/Tokyo PGDATESTYLE="SQL, DMY" PGCLIENTENCODING=LATIN1 \
psql -X -At "user=writer dbname=hoop_test sslmode=require" \
    -c "SHOW application_name" \
    -c "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()" \
    -c "SHOW search_path" -c "SELECT count(*) FROM invoices" -c "SHOW work_mem" \
    -c "SHOW TimeZone" -c "SHOW DateStyle" -c "SHOW client_encoding"
--- client_output
hoop-flows
hoop-flows
billing
20
7MB
Asia/Tokyo
SQL, DMY
LATIN1



=== TEST 17: the replication startup parameter is never passed on: the session is an ordinary one
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=require replication=database" \
    -c "IDENTIFY_SYSTEM" 2>&1 | sed -n 's/^\(ERROR: *syntax error\).*/\1/p'
--- client_output
ERROR:  syntax error



=== TEST 18: a 64 MB value each way and 5 million rows through token login; the gateway's peak RSS grows by less than 32 MB
The 5 million rows come as one COPY, as one psql cursor (FETCH_COUNT) and
as a single result of 5 million DataRow messages read by a streaming client.
Expected digests are computed locally (head/tr, seq).
--- skip_eval: 3: ($ENV{HOOP_SANITIZER} // '') eq 'valgrind'
--- client
pid=$(cat "$TEST_NGINX_SERVER_ROOT/logs/nginx.pid")
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"; }
before=$(hwm)
export PGPASSWORD=$TOKEN_SRE
conn="user=writer dbname=hoop_test sslmode=require"
mb64=$((64 * 1024 * 1024))
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# down: a 64 MB text and a 64 MB bytea
want=$(head -c $mb64 /dev/zero | tr '\0' y | md5sum)
got=$(psql -X -At "$conn" -c "SELECT repeat('y', $mb64)" | head -c $mb64 | md5sum)
[ "$got" = "$want" ] && echo "64 MB text down: ok"
psql -X -At "$conn" -c "SELECT decode(repeat('ab', $mb64), 'hex')" | wc -c

# up: one 64 MB Query message
{ printf "SELECT length(v), md5(v) FROM (SELECT '"; head -c $mb64 /dev/zero | tr '\0' z; printf "'::text AS v) s;\n"; } > "$dir/big.sql"
want=$(head -c $mb64 /dev/zero | tr '\0' z | md5sum | cut -d' ' -f1)
[ "$(psql -X -At "$conn" -f "$dir/big.sql")" = "$mb64|$want" ] && echo "64 MB query up: ok"

# 5 million rows
want=$(seq 1 5000000 | md5sum)
got=$(psql -X -At "$conn" -c "COPY (SELECT g FROM generate_series(1, 5000000) g) TO STDOUT" | md5sum)
[ "$got" = "$want" ] && echo "5M rows by COPY: ok"
got=$(psql -X -At -v FETCH_COUNT=100000 "$conn" -c "SELECT g FROM generate_series(1, 5000000) g" | md5sum)
[ "$got" = "$want" ] && echo "5M rows by cursor: ok"
perl -I"$HOOP_T_LIB" -MHoopPgWire -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new("127.0.0.1:$ENV{TEST_NGINX_PG_GW_PORT2}") or die "connect: $!\n";
    print $s HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$ENV{TOKEN_SRE}"
Query "SELECT g FROM generate_series(1, 5000000) g"
Terminate});
    my ($buf, $pos, %n, $sum, $tag) = ("", 0);
    while (sysread($s, $buf, 1 << 16, length $buf)) {
        while (length($buf) - $pos >= 5) {
            my ($type, $len) = unpack "a N", substr($buf, $pos, 5);
            last if length($buf) - $pos < 1 + $len;
            $n{$type}++;
            $sum += unpack "x2 N/a", substr($buf, $pos + 5, $len - 4) if $type eq "D";
            $tag = unpack "Z*", substr($buf, $pos + 5) if $type eq "C";
            $pos += 1 + $len;
        }
        substr($buf, 0, $pos, "");
        $pos = 0;
    }
    print "one result: $n{D} DataRow, sum $sum, \"$tag\", $n{Z} ReadyForQuery\n";
'

after=$(hwm)
growth=$((after - before))
echo "gateway VmHWM before ${before} kB, after ${after} kB, growth ${growth} kB" \
    > "$TEST_NGINX_SERVER_ROOT/logs/memory.txt"
echo "peak RSS growth under 32 MB: $(( growth < 32 * 1024 ))"
--- memory_report
--- client_timeout: 300
--- timeout: 300
--- client_output
64 MB text down: ok
134217731
64 MB query up: ok
5M rows by COPY: ok
5M rows by cursor: ok
one result: 5000000 DataRow, sum 12500002500000, "SELECT 5000000", 2 ReadyForQuery
peak RSS growth under 32 MB: 1
