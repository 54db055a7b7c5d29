# Statement policy of the Postgres gateway (hoop_pg_deny / hoop_pg_allow):
# a bypass corpus run through the gateway with DBD::Pg (comments, case,
# quoting, dollar quotes, E'' strings, unicode escapes, stacked statements,
# CTE-wrapped DML, EXPLAIN ANALYZE, PREPARE/EXECUTE, search_path and
# schema tricks, functions in subqueries and in SQL text, COPY PROGRAM,
# DO blocks) next to allowed statements that must still work; transaction
# state after a denial (inside BEGIN, mid multi-statement Query, mid
# pipeline, Bind of a denied statement, names reused after a denial);
# allowlist profiles, inheritance from stream{}, FunctionCall, the
# settings the parser depends on; psql and pgbench; configuration errors.

use strict;
use warnings;

our ($kit, $token);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $ENV{TEST_NGINX_PG_GW_PORT2} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 1;

    $token = $kit->token(key => 'ec256', ttl => 1800, claims => {
        sub => 'user-sre', email => 'sre@example.com', groups => ['sre'],
    });
    # the client scripts read the token from the environment
    $ENV{TOKEN_SRE} = $token;
    $ENV{TOKEN_CONTRACTOR} = $kit->token(key => 'ec256', ttl => 1800,
        claims => { sub => 'user-c', groups => ['sre', 'contractors'] });
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

    # guardrails for every server below
    hoop_pg_deny statement=set_role,copy_program;

    # plaintext token login (loopback only): psql, DBD::Pg, transcripts
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 test_db;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl    disable;

        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_pg_role reader user=app_ro password=vault:app_ro
                            database=hoop_test groups=sre;

        hoop_pg_deny statement=drop,truncate "message=no DDL via the gateway";
        hoop_pg_deny statement=delete,update where=none;
        hoop_pg_deny relation=secrets;
        hoop_pg_deny statement=delete relation=billing.invoices;
        hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend;
        hoop_pg_deny statement=grant message="no privilege changes here";
        hoop_pg_deny relation=orders roles=reader;
        hoop_pg_allow statement=select,explain roles=reader;
    }

    # only the stream{} guardrails; DO blocks and FunctionCall allowed
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;

        hoop_pg                 test_db;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl    disable;

        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;

        hoop_pg_allow statement=do,function_call;
    }
}
CONF
});

run_tests();

__DATA__

=== TEST 1: bypass corpus: every attempt is denied by the gateway (42501, the rule's message), allowed statements in between still run, and the session goes on
Each attempt runs in its own transaction, rolled back afterwards, so a
statement the gateway failed to stop could not damage the fixture.
"error" lines come from PostgreSQL itself: the gateway let those through
(they name other objects than the rules do), which is what they test.
--- client
perl - <<'PL'
use strict;
use warnings;
use DBI;

my $dbh = DBI->connect("dbi:Pg:dbname=hoop_test;host=127.0.0.1;port=$ENV{PGPORT};sslmode=disable",
                       "writer", $ENV{TOKEN_SRE},
                       { RaiseError => 0, PrintError => 0, AutoCommit => 0 })
    or die "connect: $DBI::errstr\n";
my ($pid) = $dbh->selectrow_array("SELECT pg_backend_pid()");
$dbh->rollback;

my $n = 0;
while (my $sql = <DATA>) {
    chomp $sql;
    next if $sql eq '' || $sql =~ /^#/;
    $n++;
    my $ok = $dbh->do($sql);
    if (defined $ok) {
        print "$n ran\n";
    } else {
        (my $msg = $dbh->errstr) =~ s/^ERROR:\s+//;
        $msg =~ s/\n.*//s;
        my $state = $dbh->state;
        print $state eq '42501' ? "$n denied: $msg\n" : "$n error $state: $msg\n";
    }
    $dbh->rollback;
}

my ($count) = $dbh->selectrow_array("SELECT count(*) FROM people");
my ($same) = $dbh->selectrow_array("SELECT pg_backend_pid() = ?", undef, $pid);
print "people: $count, same session: ", ($same ? "yes" : "no"), "\n";
__DATA__
# case, comments, quoting
DROP TABLE people
drop table people
DrOp TaBlE "people"
/* hi */ DROP/**/TABLE people -- bye
# stacked statements, dollar quotes, E'' strings
SELECT 1; DROP TABLE people
SELECT $$'$$ ; DROP TABLE people -- '
SELECT E'\''; DROP TABLE people; --'
SELECT 'a'; TRUNCATE people
TRUNCATE ONLY people
SELECT 1;;; DROP TABLE IF EXISTS people CASCADE
# DML without a real WHERE, wrapped
DELETE FROM people
delete from PEOPLE where true
DELETE FROM people WHERE 1 = 1
UPDATE people SET name = 'x'
WITH d AS (DELETE FROM people RETURNING *) SELECT count(*) FROM d
EXPLAIN ANALYZE DELETE FROM people
EXPLAIN (ANALYZE, FORMAT JSON) UPDATE people SET name = name
PREPARE p AS DELETE FROM people
COPY (DELETE FROM people RETURNING id) TO STDOUT
CREATE TEMP TABLE t AS WITH u AS (UPDATE people SET name = name RETURNING *) SELECT * FROM u
# a denied relation, however it is written
SELECT * FROM secrets
SELECT * FROM public.secrets
SELECT * FROM "secrets"
SELECT * FROM SECRETS
SELECT * FROM U&"\0073ecrets"
SELECT * FROM hoop_test.public.secrets
SELECT * FROM people WHERE id IN (SELECT id FROM secrets)
TABLE secrets
SELECT query_to_xml('select * from secrets', true, false, '')
SELECT table_to_xml('public.secrets', true, false, '')
CREATE TEMP VIEW v AS SELECT * FROM secrets
CREATE FUNCTION pg_temp.f() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM secrets $$
# search_path and schema tricks
SET search_path = billing, public; DELETE FROM invoices WHERE id = 1
DELETE FROM "billing"."invoices" WHERE id = 1
# denied functions, wherever they hide
SELECT pg_read_file('/etc/passwd')
SELECT pg_catalog.pg_read_file('/etc/passwd')
SELECT "pg_read_file"('/etc/passwd')
SELECT * FROM pg_read_file('/etc/passwd')
SELECT length((SELECT PG_READ_FILE('/etc/passwd')))
SELECT query_to_xml('select pg_read_file(''/etc/passwd'')', true, false, '')
SELECT pg_ls_dir('.')
SELECT pg_terminate_backend(pg_backend_pid())
SELECT lo_import('/etc/passwd')
# role changes (the stream{} guardrail)
SET ROLE hoop
SET "ROLE" = hoop
SELECT set_config('role', 'hoop', false)
UPDATE pg_settings SET setting = 'hoop' WHERE name = 'role'
SET SESSION AUTHORIZATION hoop
# COPY ... PROGRAM, privileges
COPY people TO PROGRAM 'cat > /tmp/hoop-t300'
COPY (SELECT 1) TO PROGRAM 'id'
GRANT ALL ON people TO PUBLIC
REVOKE SELECT ON people FROM app_ro
# code the gateway cannot read
DO $$ BEGIN DELETE FROM people; END $$
do language plpgsql $x$ begin perform pg_read_file('/etc/passwd'); end $x$
CREATE FUNCTION pg_temp.g() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DELETE FROM people; RETURN 1; END $$
SELECT query_to_xml(current_setting('application_name'), true, false, '')
# what the parser cannot read, and settings that would change how it reads
SELEC 1
SELECT 1; SELEC 2; DROP TABLE people
SET standard_conforming_strings = off
SET NAMES 'LATIN1'
# a statement whose PREPARE was denied does not exist
EXECUTE p
# allowed: these must work (or fail in PostgreSQL, not in the gateway)
SELECT count(*) FROM people
SELECT 'DROP TABLE people; -- secrets' AS s, $$ DELETE FROM people $$ AS t
UPDATE people SET name = name WHERE id = 1
DELETE FROM scratch WHERE id = -1
WITH x AS (SELECT 1 AS a) SELECT a FROM x
EXPLAIN SELECT * FROM people
SELECT set_config('application_name', 'corpus', false)
PREPARE q AS SELECT 1; EXECUTE q
CREATE TEMP TABLE tmp_corpus (a int); INSERT INTO tmp_corpus VALUES (1); DELETE FROM tmp_corpus WHERE a = 1
SELECT * FROM "Secrets"
SELECT * FROM billing.invoices
SELECT myschema.pg_ls_dir('.')
PL
--- client_output
1 denied: no DDL via the gateway
2 denied: no DDL via the gateway
3 denied: no DDL via the gateway
4 denied: no DDL via the gateway
5 denied: no DDL via the gateway
6 denied: no DDL via the gateway
7 denied: no DDL via the gateway
8 denied: no DDL via the gateway
9 denied: no DDL via the gateway
10 denied: no DDL via the gateway
11 denied: denied by hoop_pg_deny statement=delete,update where=none
12 denied: denied by hoop_pg_deny statement=delete,update where=none
13 denied: denied by hoop_pg_deny statement=delete,update where=none
14 denied: denied by hoop_pg_deny statement=delete,update where=none
15 denied: denied by hoop_pg_deny statement=delete,update where=none
16 denied: denied by hoop_pg_deny statement=delete,update where=none
17 denied: denied by hoop_pg_deny statement=delete,update where=none
18 denied: denied by hoop_pg_deny statement=delete,update where=none
19 denied: denied by hoop_pg_deny statement=delete,update where=none
20 denied: denied by hoop_pg_deny statement=delete,update where=none
21 denied: denied by hoop_pg_deny relation=secrets
22 denied: denied by hoop_pg_deny relation=secrets
23 denied: denied by hoop_pg_deny relation=secrets
24 denied: denied by hoop_pg_deny relation=secrets
25 denied: denied by hoop_pg_deny relation=secrets
26 denied: denied by hoop_pg_deny relation=secrets
27 denied: denied by hoop_pg_deny relation=secrets
28 denied: denied by hoop_pg_deny relation=secrets
29 denied: denied by hoop_pg_deny relation=secrets
30 denied: denied by hoop_pg_deny relation=secrets
31 denied: denied by hoop_pg_deny relation=secrets
32 denied: denied by hoop_pg_deny relation=secrets
33 denied: denied by hoop_pg_deny statement=delete relation=billing.invoices
34 denied: denied by hoop_pg_deny statement=delete relation=billing.invoices
35 denied: denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend
36 denied: denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend
37 denied: denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend
38 denied: denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend
39 denied: denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend
40 denied: denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend
41 denied: denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend
42 denied: denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend
43 denied: denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend
44 denied: denied by hoop_pg_deny statement=set_role,copy_program
45 denied: denied by hoop_pg_deny statement=set_role,copy_program
46 denied: denied by hoop_pg_deny statement=set_role,copy_program
47 denied: denied by hoop_pg_deny statement=set_role,copy_program
48 denied: denied by hoop_pg_deny statement=set_role,copy_program
49 denied: denied by hoop_pg_deny statement=set_role,copy_program
50 denied: denied by hoop_pg_deny statement=set_role,copy_program
51 denied: no privilege changes here
52 denied: no privilege changes here
53 denied: DO blocks are denied by the gateway unless allowed with hoop_pg_allow statement=do
54 denied: DO blocks are denied by the gateway unless allowed with hoop_pg_allow statement=do
55 denied: code the gateway cannot read (a function body not in SQL, or SQL text computed at run time) is denied unless allowed with hoop_pg_allow statement=do
56 denied: code the gateway cannot read (a function body not in SQL, or SQL text computed at run time) is denied unless allowed with hoop_pg_allow statement=do
57 denied: statement could not be parsed by the gateway
58 denied: statement could not be parsed by the gateway
59 denied: the gateway reads statements only with standard_conforming_strings on and client_encoding UTF8: this setting is denied
60 denied: the gateway reads statements only with standard_conforming_strings on and client_encoding UTF8: this setting is denied
61 error 26000: prepared statement "p" does not exist
62 ran
63 ran
64 ran
65 ran
66 ran
67 ran
68 ran
69 ran
70 ran
71 error 42P01: relation "Secrets" does not exist
72 ran
73 error 3F000: schema "myschema" does not exist
people: 20, same session: yes
--- error_log eval
qr/hoop pg: "user-sre" \(role profile "writer"\): 'Q' denied by hoop_pg_deny relation=secrets/



=== TEST 2: a denial inside BEGIN aborts the transaction as an error would: the next statement is refused by PostgreSQL (25P02), ROLLBACK works, the session goes on
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "CREATE TEMP TABLE tx (a int)"
Query "BEGIN"
Query "INSERT INTO tx VALUES (1)"
Query "DELETE FROM tx"
Query "SELECT 1"
Query "ROLLBACK"
Query "SELECT count(*) AS n FROM tx"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
CommandComplete "CREATE TABLE"
ReadyForQuery I
CommandComplete BEGIN
ReadyForQuery T
CommandComplete "INSERT 0 1"
ReadyForQuery T
ErrorResponse S=ERROR C=42501 M="denied by hoop_pg_deny statement=delete,update where=none"
ReadyForQuery E
ErrorResponse S=ERROR C=25P02 M="current transaction is aborted, commands ignored until end of transaction block"
ReadyForQuery E
CommandComplete ROLLBACK
ReadyForQuery I
RowDescription n:int8
DataRow 0
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 3: a denied statement in the middle of a multi-statement Query: one ErrorResponse, one ReadyForQuery, nothing of the Query runs (PostgreSQL would roll the implicit transaction back anyway)
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "CREATE TEMP TABLE tx (a int)"
Query "INSERT INTO tx VALUES (1); DELETE FROM tx; SELECT 3 AS c"
Query "SELECT count(*) AS n FROM tx"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
CommandComplete "CREATE TABLE"
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="denied by hoop_pg_deny statement=delete,update where=none"
ReadyForQuery I
RowDescription n:int8
DataRow 0
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 4: a denied Parse in the middle of a pipeline: exactly one ErrorResponse naming the rule, the rest skipped until Sync, one ReadyForQuery; the INSERT before it is rolled back with the implicit transaction
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "CREATE TEMP TABLE tx (a int)"
Parse "" "INSERT INTO tx VALUES (1)"
Bind "" ""
Execute ""
Parse "" "DELETE FROM tx"
Bind "" ""
Execute ""
Parse "" "SELECT 3"
Bind "" ""
Execute ""
Sync
Parse "" "SELECT count(*) AS n FROM tx"
Bind "" ""
Describe P ""
Execute ""
Sync
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
ErrorResponse S=ERROR C=42501 M="denied by hoop_pg_deny statement=delete,update where=none"
ReadyForQuery I
ParseComplete
BindComplete
RowDescription n:int8
DataRow 0
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 5: Bind to a named statement whose Parse was denied fails (it does not exist); the name can be reused for an allowed statement afterwards
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Parse s1 "SELECT * FROM secrets"
Sync
Bind "" s1
Execute ""
Sync
Parse s1 "SELECT 'reused' AS r"
Bind "" s1
Execute ""
Sync
Bind "" s1
Execute ""
Sync
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="denied by hoop_pg_deny relation=secrets"
ReadyForQuery I
ErrorResponse S=ERROR C=26000 M="prepared statement \"s1\" does not exist"
ReadyForQuery I
ParseComplete
BindComplete
DataRow reused
CommandComplete "SELECT 1"
ReadyForQuery I
BindComplete
DataRow reused
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 6: inside an explicit transaction, a pipeline with a denied Parse: one ErrorResponse, ReadyForQuery E, ROLLBACK recovers
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "BEGIN"
Parse "" "SELECT 1"
Bind "" ""
Execute ""
Parse "" "SELECT pg_read_file('/etc/passwd')"
Bind "" ""
Execute ""
Flush
Sync
Query "ROLLBACK"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
CommandComplete BEGIN
ReadyForQuery T
ParseComplete
BindComplete
DataRow 1
CommandComplete "SELECT 1"
ErrorResponse S=ERROR C=42501 M="denied by hoop_pg_deny function=pg_read_file,pg_catalog.pg_ls_dir,lo_import,dblink_exec,pg_terminate_backend"
ReadyForQuery E
CommandComplete ROLLBACK
ReadyForQuery I



=== TEST 7: an allowlist profile (reader: select, explain): other kinds are refused by the gateway with the kind named, transaction control still works, role-scoped deny rules apply to it only
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "SELECT count(*) AS n FROM people"
Query "BEGIN"
Query "INSERT INTO scratch VALUES (1, 'x')"
Query "ROLLBACK"
Query "WITH i AS (INSERT INTO scratch VALUES (1) RETURNING *) SELECT * FROM i"
Query "SET work_mem = '1MB'"
Query "SELECT count(*) AS n FROM orders"
Query "EXPLAIN (COSTS off) SELECT 1 AS one"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription n:int8
DataRow 20
CommandComplete "SELECT 1"
ReadyForQuery I
CommandComplete BEGIN
ReadyForQuery T
ErrorResponse S=ERROR C=42501 M="\"insert\" statements are not allowed by hoop_pg_allow"
ReadyForQuery E
CommandComplete ROLLBACK
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="\"insert\" statements are not allowed by hoop_pg_allow"
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="\"set\" statements are not allowed by hoop_pg_allow"
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="denied by hoop_pg_deny relation=orders roles=reader"
ReadyForQuery I
RowDescription "QUERY PLAN:text"
DataRow Result
CommandComplete EXPLAIN
ReadyForQuery I



=== TEST 8: the same orders query for the writer profile: role-scoped rules do not apply to it
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "SELECT count(*) AS n FROM orders"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription n:int8
DataRow 50
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 9: a FunctionCall message is denied unless allowed (the server's answer is one ErrorResponse, then ReadyForQuery)
pi() (OID 1610) takes no arguments: 'F', length 14, OID, 0 argument
formats, 0 arguments, text result.
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
raw "F" 0000000e 0000064a 0000 0000 0000
Query "SELECT 'after' AS a"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="FunctionCall messages are denied by the gateway unless allowed with hoop_pg_allow statement=function_call"
ReadyForQuery I
RowDescription a:text
DataRow after
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 10: a server with only the stream{} rules inherits them (SET ROLE denied) and allows what it lists (DO, FunctionCall) without becoming an allowlist (DROP of a temp table runs)
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"
Query "SET ROLE hoop"
Query "DO \\\$\\\$ BEGIN RAISE NOTICE 'allowed here'; END \\\$\\\$"
raw "F" 0000000e 0000064a 0000 0000 0000
Query "CREATE TEMP TABLE d (a int); DROP TABLE d"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="denied by hoop_pg_deny statement=set_role,copy_program"
ReadyForQuery I
NoticeResponse S=NOTICE C=00000 M="allowed here"
CommandComplete DO
ReadyForQuery I
FunctionCallResponse 3.141592653589793
ReadyForQuery I
CommandComplete "CREATE TABLE"
CommandComplete "DROP TABLE"
ReadyForQuery I



=== TEST 11: standard_conforming_strings off from the startup packet: the parser would read strings differently than the server, so every statement is denied
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test standard_conforming_strings=off
PasswordMessage "$::token"
Query "SELECT 1 AS one"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="the gateway denies every statement while standard_conforming_strings is off"
ReadyForQuery I



=== TEST 12: a client_encoding other than UTF8 from the startup packet: every statement is denied
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test client_encoding=LATIN1
PasswordMessage "$::token"
Query "SELECT 1 AS one"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="the gateway denies every statement while client_encoding is not UTF8"
ReadyForQuery I



=== TEST 13: psql: a denied statement prints the rule's message and fails; allowed ones run in the same invocation
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" \
    -c "SELECT count(*) FROM people" \
    -c "DROP TABLE people" 2>&1
echo "exit $?"
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" \
    -c "SELECT 'still' || ' here'" 2>&1
--- client_output
20
ERROR:  no DDL via the gateway
exit 1
still here



=== TEST 13b: startup parameters that change the role would bypass statement=set_role: refused
--- client
PGPASSWORD=$TOKEN_SRE PGOPTIONS="-c role=app_ro" psql -X -At "user=writer dbname=hoop_test sslmode=disable" \
    -c "SELECT current_user" 2>&1 | sed 's/.*FATAL: */FATAL: /'
PGPASSWORD=$TOKEN_SRE PGOPTIONS="-c search_path=billing" psql -X -At "user=writer dbname=hoop_test sslmode=disable" \
    -c "SELECT current_user" 2>&1
--- client_output
FATAL: startup parameters that change the role are not allowed through this gateway
app_scram
--- error_log
would change the session's role, refused by the statement policy



=== TEST 13c: rules scoped to identity groups: the same profile and statement, denied for a token in "contractors", allowed otherwise (decisions cached per groups too)
--- main_config
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

        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;

        hoop_pg_deny relation=people groups=contractors
                     "message=contractors do not see people";
    }
}
--- client
for t in "$TOKEN_CONTRACTOR" "$TOKEN_SRE" "$TOKEN_CONTRACTOR" "$TOKEN_SRE"; do
    PGPASSWORD=$t psql -X -At "user=writer dbname=hoop_test sslmode=disable" \
        -c "SELECT count(*) FROM people" 2>&1
done
--- client_output
ERROR:  contractors do not see people
20
ERROR:  contractors do not see people
20



=== TEST 13d: decisions are shared by statements that differ only in numbers, never in strings: the cache must not let a string-carried role change ride on an allowed twin
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=disable" \
    -c "SELECT count(*) FROM people WHERE id < 3" \
    -c "SELECT count(*) FROM people WHERE id < 7" \
    -c "SELECT set_config('search_path', 'public', false) IS NOT NULL" \
    -c "SELECT set_config('role', 'public', false) IS NOT NULL" \
    -c "SELECT set_config('search_path', 'public', false) IS NOT NULL" \
    -c "SELECT 1 AS \"t1\"" -c "SELECT 2 AS \"t1\"" 2>&1 | sed 's/ERROR: *\(.*\)/denied/'
--- client_output
2
6
t
denied
t
1
2



=== TEST 14: pgbench through the policy in its three protocol modes (statements allowed), then a script with a denied statement: the client aborts with the rule's message
--- client
cat > /tmp/hoop-t300-ok.sql <<'SQL'
\set id random(1, 20)
SELECT name FROM people WHERE id = :id;
UPDATE scratch SET v = v WHERE id = :id;
SQL
cat > /tmp/hoop-t300-denied.sql <<'SQL'
DELETE FROM scratch;
SQL
for mode in simple extended prepared; do
    PGPASSWORD=$TOKEN_SRE pgbench -n -M $mode -t 25 -c 2 -f /tmp/hoop-t300-ok.sql \
        "user=writer dbname=hoop_test sslmode=disable" 2>&1 \
        | grep -E 'processed|failed' | sed "s/^/$mode: /"
done
PGPASSWORD=$TOKEN_SRE pgbench -n -t 1 -f /tmp/hoop-t300-denied.sql \
    "user=writer dbname=hoop_test sslmode=disable" 2>&1 \
    | grep -o 'ERROR:  denied by .*'
rm -f /tmp/hoop-t300-ok.sql /tmp/hoop-t300-denied.sql
--- client_output
simple: number of transactions actually processed: 50/50
simple: number of failed transactions: 0 (0.000%)
extended: number of transactions actually processed: 50/50
extended: number of failed transactions: 0 (0.000%)
prepared: number of transactions actually processed: 50/50
prepared: number of failed transactions: 0 (0.000%)
ERROR:  denied by hoop_pg_deny statement=delete,update where=none



=== TEST 15: decisions are cached per role profile: the same text is denied for reader and allowed for writer in one worker, repeatedly
--- client
for i in 1 2; do
    for role in reader writer; do
        PGPASSWORD=$TOKEN_SRE psql -X -At "user=$role dbname=hoop_test sslmode=disable" \
            -c "SELECT count(*) FROM orders" 2>&1 | sed "s/^/$role: /"
    done
done
--- client_output
reader: ERROR:  denied by hoop_pg_deny relation=orders roles=reader
writer: 50
reader: ERROR:  denied by hoop_pg_deny relation=orders roles=reader
writer: 50



=== TEST 16: a left-deep expression deep enough to overflow a worker's stack in libpg_query (70000 levels) is parsed on the policy's own stack and denied as too complex; the session and the worker go on
Without the policy's stack the worker dies with SIGSEGV and the client
sees the connection close instead of an ErrorResponse.  3000 levels are
fine.  (The queries are framed directly: a 140 KB quoted token is more
than the transcript notation's regex takes.)
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=writer database=hoop_test
PasswordMessage "$::token"})
. HoopPgWire::message('Q', 'SELECT 1' . ('*1' x 70000) . " AS deep\0")
. HoopPgWire::message('Q', 'SELECT 1' . ('*1' x 3000) . " AS shallow\0")
. HoopPgWire::encode("Terminate")
--- timeout: 60
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="statement is nested too deeply for the gateway's policy"
ReadyForQuery I
RowDescription shallow:int4
DataRow 1
CommandComplete "SELECT 1"
ReadyForQuery I
--- no_error_log
[alert]
signal 11



=== TEST 17: configuration errors: a deny rule needs a selector
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg_deny roles=writer;
    }
}
--- must_die
--- error_log
"hoop_pg_deny" needs at least one of "statement=", "relation=", "function=", "where=none"



=== TEST 18: configuration errors: an unknown statement kind
--- main_config
stream {
    hoop_pg_deny statement=select,dorp;
}
--- must_die
--- error_log
unknown statement kind "dorp"



=== TEST 19: configuration errors: where=none with a kind other than update/delete
--- main_config
stream {
    hoop_pg_deny statement=select where=none;
}
--- must_die
--- error_log
"where=none" applies to "statement=update,delete" only



=== TEST 20: configuration errors: an allow rule takes statement= and roles= only
--- main_config
stream {
    hoop_pg_allow statement=select relation=people;
}
--- must_die
--- error_log
invalid parameter "relation=people"



=== TEST 21: configuration errors: a relation name PostgreSQL would not read
--- main_config
stream {
    hoop_pg_deny relation=a.b.c.d;
}
--- must_die
--- error_log
invalid name "a.b.c.d" in "a.b.c.d"



=== TEST 22: configuration errors: an unterminated message
--- main_config
stream {
    hoop_pg_deny statement=drop message="no drops;
}
--- must_die
--- error_log
unterminated quote in "message="
