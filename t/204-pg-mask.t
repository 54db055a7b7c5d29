# Masking in the Postgres gateway (hoop_pg_mask): column rules resolved
# through the catalog (aliases, schema.table.column), detectors on
# expressions, text and binary formats, statements re-executed without a
# RowDescription, COPY out, errors, notices and notifications, the row
# bound, scoping by group, and the path without rules untouched.
#
# Data: t/fixtures/schema.sql (people: 20 rows of fake personal data) and
# the tables TEST 1 creates.  Expected values follow from the rules of the
# configuration below:
#   emails      column=email with=partial   alice@example.com -> a***@example.com
#                                           (one character kept when the
#                                           local part has 4+, domain kept)
#   cards       column=card,ssn             -> ****
#   staff_iban  column=hr.staff.iban with=null -> NULL (only that table)
#   text        detect=email,credit_card,ssn,phone,iban -> each finding ****
# the first three and "text" are off for the group "support".

use strict;
use warnings;

our ($kit, $token, $support);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $ENV{TEST_NGINX_PG_GW_PORT2} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 1;
    $ENV{TEST_NGINX_PG_GW_PORT3} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 2;
    $ENV{TEST_NGINX_PG_GW_PORT4} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 3;
    $ENV{TEST_NGINX_PG_GW_PORT5} = ($ENV{TEST_NGINX_PG_GW_PORT} // 19432) + 4;

    $token = $kit->token(key => 'ec256', ttl => 3600, claims => {
        sub => 'u-sre', email => 'sre@example.com', groups => ['sre'],
    });
    $support = $kit->token(key => 'ec256', ttl => 3600, claims => {
        sub => 'u-support', groups => ['support'],
    });
    $ENV{TOKEN_SRE} = $token;
    # a stream of this run only
    $ENV{TEST_NGINX_AUDIT_STREAM} = "hoop:test:mask:$$";
    $ENV{TOKEN_SUPPORT} = $support;

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
    log_format mask '$hoop_pg_user $hoop_pg_mask_count [$hoop_pg_mask_detail]';

    # real clients: TLS, token login
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                     127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_ssl_certificate     $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
        hoop_pg_auth                oidc=test;
        hoop_pg_role reader user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre,support;

        hoop_pg_mask column=email with=partial name=emails
                     unless_groups=support;
        hoop_pg_mask column=card,ssn name=cards unless_groups=support;
        hoop_pg_mask column=hr.staff.iban with=null name=staff_iban;
        hoop_pg_mask detect=email,credit_card,ssn,phone,iban name=text
                     unless_groups=support;

        access_log logs/mask.log mask;
    }

    # transcripts: the same rules, plaintext token login (loopback)
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role reader user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;

        hoop_pg_mask column=email with=partial name=emails;
        hoop_pg_mask column=card,ssn name=cards;
        hoop_pg_mask detect=email,credit_card,ssn,phone,iban name=text;
        hoop_pg_mask_max_row 2k;
    }

    # unknown origin refused; no detectors
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT3;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role reader user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;

        hoop_pg_mask column=email,card name=columns unknown=refuse;
    }

    # scoping by role profile (roles=), group (groups=) and a variable
    map $hoop_pg_role $hoop_unmask_cards {
        auditor  1;
        default  0;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT5;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role reader  user=app_scram password=vault:app_scram
                             database=hoop_test groups=sre;
        hoop_pg_role auditor user=app_scram password=vault:app_scram
                             database=hoop_test groups=sre,support;

        hoop_pg_mask column=email roles=reader name=reader_email;
        hoop_pg_mask column=card groups=sre unless=$hoop_unmask_cards
                     name=cards;
        hoop_pg_mask column=ssn groups=nobody name=nobody_ssn;
    }

    # no rules: the relay as it always was
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT4;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role reader user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
    }
}
CONF
});

run_tests();

__DATA__

=== TEST 1: setup: tables of this suite (directly on PostgreSQL, as the owner)
--- client
psql -X -q -At -v ON_ERROR_STOP=1 -p $TEST_NGINX_PG_PORT -U hoop -d hoop_test <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS hr CASCADE;
CREATE SCHEMA hr;
CREATE TABLE hr.staff (id int PRIMARY KEY, name text, iban text);
INSERT INTO hr.staff VALUES (1, 'Staff One', 'XX00 NOT AN IBAN');
DROP TABLE IF EXISTS public.staff, public.mask_unique, public.mask_wide;
CREATE TABLE public.staff (id int PRIMARY KEY, name text, iban text);
INSERT INTO public.staff VALUES (1, 'Public One', 'XX00 NOT AN IBAN');
CREATE TABLE public.mask_unique (email text UNIQUE);
CREATE TABLE public.mask_wide (id int, email text, blob text);
INSERT INTO public.mask_wide VALUES (1, 'wide.one@example.com', repeat('x', 5000)),
                                    (2, 'wide.two@example.com', 'short');
GRANT USAGE ON SCHEMA hr TO app_scram;
GRANT SELECT ON ALL TABLES IN SCHEMA hr TO app_scram;
GRANT SELECT, INSERT, DELETE ON public.staff, public.mask_unique, public.mask_wide TO app_scram;
SQL
echo ok
--- client_output
ok



=== TEST 2: psql: column rules and detectors; Luhn-invalid numbers and wrong IBAN checksums stay; NULLs stay NULL
Row 1: email by its column rule (partial), card and ssn redacted by
column, phone and iban by the detectors; row 8's notes hold a spaced card
number; row 20's notes a Luhn-invalid number and a wrong-checksum IBAN;
row 19 is NULL everywhere.
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=reader dbname=hoop_test sslmode=require" \
    -c "SELECT id, name, email, card, ssn, phone, iban, notes FROM people WHERE id IN (1, 8, 19, 20) ORDER BY id"
--- client_output
1|Alice Anders|a***@example.com|****|****|****|****|VIP customer
8|Heidi Hansen|h***@example.net|****|****|****|****|card **** used once
19|Sybil Smith||||||
20|Trent Taylor|t***@example.com|****|****|****|****|not a card: 4111111111111112; not an iban: GB82WEST12345698765433



=== TEST 3: aliases keep their column's rule; expressions and concatenations get the detectors
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=reader dbname=hoop_test sslmode=require" \
    -c "SELECT email AS e, upper(email) AS u, lower(email), 'mail: ' || email AS c, card AS x, left(card, 4) AS prefix FROM people WHERE id = 2"
--- client_output
b***@example.com|****|****|mail: ****|****|5555



=== TEST 4: rules scoped by group: "support" sees clear values, except the schema.table.column rule that names no group; that rule leaves public.staff alone
--- client
PGPASSWORD=$TOKEN_SUPPORT psql -X -At "user=reader dbname=hoop_test sslmode=require" \
    -c "SELECT email, card, phone, notes FROM people WHERE id = 8" \
    -c "SELECT s.iban IS NULL, s.iban AS a, p.iban AS b FROM hr.staff s, public.staff p"
echo ---
PGPASSWORD=$TOKEN_SRE psql -X -At "user=reader dbname=hoop_test sslmode=require" \
    -c "SELECT s.iban IS NULL, s.iban AS a, p.iban AS b FROM hr.staff s, public.staff p"
--- client_output
heidi@example.net|3530111333300000|+12065550108|card 4242 4242 4242 4242 used once
f||XX00 NOT AN IBAN
---
f||XX00 NOT AN IBAN



=== TEST 5: binary and text results; a named statement described once, then executed without Describe (as pgjdbc does after 5 executions), with per-column formats
Row 1's card as int8 (a Luhn-valid number) and a JSON number holding it
become NULL: no masked form of them is valid for their type; a jsonb
string keeps its type (binary: the version byte 1, then the text).
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Parse S_1 "SELECT id, email, card, phone, card::int8 AS n, to_jsonb(email) AS j, json_build_object('c', card::int8) AS o FROM people WHERE id = \\\$1" int4
Describe S S_1
Bind "" S_1 results=1 1
Execute "" 0
Sync
Bind "" S_1 results=1 1
Execute "" 0
Sync
Bind "" S_1 results=0,1,0,1,1,0,1 1
Execute "" 0
Sync
Bind "" S_1 1
Execute "" 0
Sync
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ParseComplete
ParameterDescription int4
RowDescription id:int4 email:text card:text phone:text n:int8 j:jsonb o:json
BindComplete
DataRow "\x00\x00\x00\x01" "a***@example.com" "****" "****" NULL "\x01\"****\"" NULL
CommandComplete "SELECT 1"
ReadyForQuery I
BindComplete
DataRow "\x00\x00\x00\x01" "a***@example.com" "****" "****" NULL "\x01\"****\"" NULL
CommandComplete "SELECT 1"
ReadyForQuery I
BindComplete
DataRow 1 "a***@example.com" "****" "****" NULL "\"****\"" NULL
CommandComplete "SELECT 1"
ReadyForQuery I
BindComplete
DataRow 1 "a***@example.com" "****" "****" NULL "\"****\"" NULL
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 6: the unnamed statement with Describe of the portal (libpq's extended protocol), binary; PortalSuspended between partial executions
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Parse "" "SELECT email AS e FROM people WHERE id = 3"
Bind "" "" results=1
Describe P ""
Execute "" 0
Sync
Parse "" "SELECT id, email FROM people WHERE id IN (1, 2) ORDER BY id"
Bind "" ""
Describe P ""
Execute "" 1
Execute "" 1
Sync
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ParseComplete
BindComplete
RowDescription e:text:binary
DataRow "c***@example.org"
CommandComplete "SELECT 1"
ReadyForQuery I
ParseComplete
BindComplete
RowDescription id:int4 email:text
DataRow 1 "a***@example.com"
PortalSuspended
DataRow 2 "b***@example.com"
PortalSuspended
ReadyForQuery I



=== TEST 7: DBD::Pg with server-side prepared statements, executed three times
--- client
perl -MDBI -e '
    my $dbh = DBI->connect("dbi:Pg:dbname=hoop_test;host=127.0.0.1;port=$ENV{PGPORT};sslmode=require",
                           "reader", $ENV{TOKEN_SRE},
                           { RaiseError => 1, AutoCommit => 1, PrintError => 0,
                             pg_server_prepare => 1 });
    my $sth = $dbh->prepare("SELECT email, card, notes FROM people WHERE id = ?");
    for my $id (1, 10, 13) {
        $sth->execute($id);
        print join("|", map { $_ // "NULL" } $sth->fetchrow_array), "\n";
        $sth->finish;
    }
    $dbh->disconnect;
'
--- client_output
a***@example.com|****|VIP customer
j***@example.org|****|ssn on paper form: ****
m***@example.com|****|call **** after 5pm



=== TEST 8: COPY TO STDOUT masked in text and CSV (by column list, by the table's own columns); with=null gives \N
--- client
C="user=reader dbname=hoop_test sslmode=require"
PGPASSWORD=$TOKEN_SRE psql -X -At "$C" -c "COPY people (id, email, card, notes) TO STDOUT" | sed -n '1p;8p;19p'
PGPASSWORD=$TOKEN_SRE psql -X -At "$C" -c "COPY people TO STDOUT WITH (FORMAT csv, HEADER)" | sed -n '1,2p'
PGPASSWORD=$TOKEN_SRE psql -X -At "$C" -c "COPY hr.staff TO STDOUT"
PGPASSWORD=$TOKEN_SRE psql -X -At "$C" -c "COPY hr.staff (iban, name) TO STDOUT CSV"
--- client_output
1	a***@example.com	****	VIP customer
8	h***@example.net	****	card **** used once
19	\N	\N	\N
id,name,email,phone,ssn,card,iban,notes
1,Alice Anders,a***@example.com,****,****,****,****,VIP customer
1	Staff One	\N
,Staff One



=== TEST 9: COPY that cannot be masked is refused: binary format; COPY (query) under column rules
--- client
C="user=reader dbname=hoop_test sslmode=require"
PGPASSWORD=$TOKEN_SRE psql -X -At "$C" -c "COPY people TO STDOUT (FORMAT binary)" | wc -c
PGPASSWORD=$TOKEN_SRE psql -X -At "$C" -c "COPY (SELECT email FROM people) TO STDOUT" | wc -c
--- client_output_like
FATAL:  COPY in binary format cannot be masked
.*
0
.*FATAL:  COPY TO STDOUT of a query or with options the gateway cannot read cannot be masked by column
.*
0



=== TEST 10: error DETAIL of a unique violation, a notice and a NOTIFY payload go through the detectors
--- client
C="user=reader dbname=hoop_test sslmode=require"
PGPASSWORD=$TOKEN_SRE psql -X -q -At "$C" -c "DELETE FROM mask_unique" \
    -c "INSERT INTO mask_unique VALUES ('dup.person@example.com')" \
    -c "INSERT INTO mask_unique VALUES ('dup.person@example.com')" 2>&1
PGPASSWORD=$TOKEN_SRE psql -X -q -At "$C" \
    -c "DO \$\$ BEGIN RAISE NOTICE 'card % on file', '4111 1111 1111 1111'; END \$\$" 2>&1
PGPASSWORD=$TOKEN_SRE psql -X -q -At "$C" -c "LISTEN ch" \
    -c "NOTIFY ch, 'reach me at zed.zulu@example.com or 123-45-6789'" 2>&1 | sed 's/PID [0-9]*/PID N/'
--- client_output
ERROR:  duplicate key value violates unique constraint "mask_unique_email_key"
DETAIL:  Key (email)=(****) already exists.
NOTICE:  card **** on file
Asynchronous notification "ch" with payload "reach me at **** or ****" received from server process with PID N.



=== TEST 11: a row to mask over hoop_pg_mask_max_row (2k here) ends the session with a clear error; nothing of it reaches the client
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "SELECT id, email, blob FROM mask_wide ORDER BY id"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription id:int4 email:text blob:text
ErrorResponse S=FATAL C=54000 M="row too large for the gateway to mask (hoop_pg_mask_max_row)"
--- error_log
a 5039 byte row to mask is over hoop_pg_mask_max_row 2048



=== TEST 12: rows under the bound are masked as usual
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "SELECT id, email, blob FROM mask_wide WHERE id = 2"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription id:int4 email:text blob:text
DataRow 2 "w***@example.com" short
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 13: unknown=refuse: integers and known columns (aliased too) pass, an expression over a column ends the session
--- pg_port: $TEST_NGINX_PG_GW_PORT3
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "SELECT count(*) FROM people"
Query "SELECT id, email AS e, card, phone FROM people WHERE id = 1"
Query "SELECT id, lower(email) FROM people WHERE id = 1"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription count:int8
DataRow 20
CommandComplete "SELECT 1"
ReadyForQuery I
RowDescription id:int4 e:text card:text phone:text
DataRow 1 "****" "****" +14155550101
CommandComplete "SELECT 1"
ReadyForQuery I
RowDescription id:int4 lower:text
ErrorResponse S=FATAL C=42501 M="a result column of unknown origin (an expression, or a table the gateway does not know yet) is refused by a masking rule"



=== TEST 14: a table created in the session: the catalog is read again before the next statement, so its column rule applies under an alias
--- pg_port: $TEST_NGINX_PG_GW_PORT3
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "CREATE TEMP TABLE fresh (card text); INSERT INTO fresh VALUES ('no detector finds this')"
Query "SELECT card AS x FROM fresh"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
CommandComplete "CREATE TABLE"
CommandComplete "INSERT 0 1"
ReadyForQuery I
RowDescription x:text
DataRow "****"
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 15: a server without rules relays rows untouched
--- pg_port: $TEST_NGINX_PG_GW_PORT4
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "SELECT email, card, notes FROM people WHERE id = 8"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription email:text card:text notes:text
DataRow heidi@example.net 3530111333300000 "card 4242 4242 4242 4242 used once"
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 16: $hoop_pg_mask_count and $hoop_pg_mask_detail in the session's log line
Two rows: emails (key) 2, card (key) 2, phone (detector) 2.
--- client
PGPASSWORD=$TOKEN_SRE psql -X -At "user=reader dbname=hoop_test sslmode=require" \
    -c "SELECT email, card, phone FROM people WHERE id IN (1, 2)" > /dev/null
for i in $(seq 50); do
    grep -q u-sre $TEST_NGINX_SERVER_ROOT/logs/mask.log 2> /dev/null && break; sleep 0.1
done
grep u-sre $TEST_NGINX_SERVER_ROOT/logs/mask.log | tail -1
--- client_output
u-sre 6 [phone:2 key:4 emails:2 cards:2 text:2]



=== TEST 17: the statement's audit event says what was masked, by rule then by detector
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis;
hoop_audit_stream $TEST_NGINX_AUDIT_STREAM;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                     127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_ssl_certificate     $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
        hoop_pg_auth                oidc=test;
        hoop_pg_role reader user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_pg_mask column=email with=partial name=emails;
        hoop_pg_mask column=card,ssn name=cards;
        hoop_pg_mask detect=email,credit_card,ssn,phone,iban name=text;
        hoop_audit on;
    }
}
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
R="redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning"
$R DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
PGPASSWORD=$TOKEN_SRE psql -X -At "user=reader dbname=hoop_test sslmode=require" \
    -c "SELECT email, card, phone FROM people WHERE id IN (1, 2)" \
    -c "SELECT id FROM people WHERE id = 3" > /dev/null
for i in $(seq 50); do
    [ "$($R XLEN $TEST_NGINX_AUDIT_STREAM)" -ge 4 ] && break; sleep 0.1
done
$R --raw XRANGE $TEST_NGINX_AUDIT_STREAM - + | perl -e '
    my @lines = map { chomp; $_ } <STDIN>;
    my (@events, $cur);
    while (@lines) {
        my $l = shift @lines;
        if ($l =~ /^\d+-\d+$/) { push @events, $cur = {}; next }
        $cur->{$l} = shift @lines;
    }
    for my $e (grep { $_->{type} eq "statement" } @events) {
        print "rows=$e->{rows} masked=", $e->{masked} // "-", "\n";
    }
'
$R DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
--- client_output
rows=2 masked=emails:2,cards:2,text:2;phone:2,key:4
rows=1 masked=-



=== TEST 18: postgres.js-like: Parse + Describe + Flush, then Bind + Execute + Sync; an error skips to the Sync; a statement closed and parsed again under the same name gets its new description
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Parse s1 "SELECT email, ssn FROM people WHERE id = \\\$1" int4
Describe S s1
Flush
Bind "" s1 1
Execute "" 0
Sync
Bind "" nosuch 1
Execute "" 0
Sync
Bind "" s1 4
Execute "" 0
Sync
Close S s1
Sync
Parse s1 "SELECT id, name FROM people WHERE id = \\\$1" int4
Describe S s1
Sync
Bind "" s1 results=1 1
Execute "" 0
Sync
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ParseComplete
ParameterDescription int4
RowDescription email:text ssn:text
BindComplete
DataRow "a***@example.com" "****"
CommandComplete "SELECT 1"
ReadyForQuery I
ErrorResponse S=ERROR C=26000 M="prepared statement \"nosuch\" does not exist"
ReadyForQuery I
BindComplete
DataRow "d***@example.net" "****"
CommandComplete "SELECT 1"
ReadyForQuery I
CloseComplete
ReadyForQuery I
ParseComplete
ParameterDescription int4
RowDescription id:int4 name:text
ReadyForQuery I
BindComplete
DataRow "\x00\x00\x00\x01" "Alice Anders"
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 19: rows of a statement the gateway saw no description of are refused (their types are unknown), not passed
--- pg_port: $TEST_NGINX_PG_GW_PORT2
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Parse "" "SELECT email FROM people WHERE id = 1"
Bind "" ""
Execute "" 0
Sync
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ParseComplete
BindComplete
ErrorResponse S=FATAL C=XX000 M="the gateway cannot mask rows of a statement it saw no description of"



=== TEST 20: roles= limits a rule to role profiles, groups= to identity groups, unless=$var turns one off (a map on $hoop_pg_role)
The profile "reader" gets email and card masked; "auditor" (same token
groups) neither; the ssn rule names a group nobody has.
--- pg_port: $TEST_NGINX_PG_GW_PORT5
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "SELECT email, card, ssn FROM people WHERE id = 1"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription email:text card:text ssn:text
DataRow "****" "****" 123-45-6701
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 21: the same rules for the profile "auditor": clear values
--- pg_port: $TEST_NGINX_PG_GW_PORT5
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=auditor database=hoop_test
PasswordMessage "$::token"
Query "SELECT email, card, ssn FROM people WHERE id = 1"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription email:text card:text ssn:text
DataRow alice@example.com 4111111111111111 123-45-6701
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 22: psycopg 3 with binary results and server-side prepared statements
The card as int8 (Luhn-valid in rows 1-3) has no masked form: None; a
jsonb string comes back as the JSON string "****".
--- client
/usr/bin/python3 - <<'PY'
import os, psycopg
conn = psycopg.connect(host="127.0.0.1", port=int(os.environ["PGPORT"]),
                       user="reader", dbname="hoop_test", sslmode="require",
                       password=os.environ["TOKEN_SRE"])
with conn.cursor(binary=True) as cur:
    for i in (1, 2, 3):
        cur.execute("SELECT id, email, card, card::int8 AS n, to_jsonb(email) AS j "
                    "FROM people WHERE id = %s", (i,), prepare=True)
        print(cur.fetchone())
conn.close()
PY
--- client_output
(1, 'a***@example.com', '****', None, '****')
(2, 'b***@example.com', '****', None, '****')
(3, 'c***@example.org', '****', None, '****')



=== TEST 23: pgjdbc: unnamed statements first, then a named one re-executed without Describe (prepareThreshold=2), binary transfer
--- client
cd $TEST_NGINX_SERVER_ROOT
cat > MaskJdbc.java <<'JAVA'
import java.sql.*;

public class MaskJdbc {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + System.getenv("PGPORT")
            + "/hoop_test?sslmode=require&prepareThreshold=2&binaryTransfer=true";
        try (Connection c = DriverManager.getConnection(url, "reader",
                                                        System.getenv("TOKEN_SRE"));
             PreparedStatement ps = c.prepareStatement(
                 "SELECT id, email, card, phone FROM people WHERE id = ?")) {
            for (int i = 1; i <= 5; i++) {
                ps.setInt(1, i);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    System.out.println(rs.getInt(1) + "|" + rs.getString(2) + "|"
                                       + rs.getString(3) + "|" + rs.getString(4));
                }
            }
        }
    }
}
JAVA
java -cp /usr/share/java/postgresql.jar MaskJdbc.java
--- client_output
1|a***@example.com|****|****
2|b***@example.com|****|****
3|c***@example.org|****|****
4|d***@example.net|****|****
5|e***@example.com|****|****
--- timeout: 60



=== TEST 24: asyncpg: named statements, binary results, its statement cache re-executes without Describe
--- client
/usr/bin/python3 - <<'PY'
import asyncio, os, ssl, asyncpg

async def main():
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    conn = await asyncpg.connect(host="127.0.0.1", port=int(os.environ["PGPORT"]),
                                 user="reader", database="hoop_test", ssl=tls,
                                 password=os.environ["TOKEN_SRE"])
    for i in (1, 2, 3, 1):
        row = await conn.fetchrow("SELECT id, email, card, card::int8 AS n, notes "
                                  "FROM people WHERE id = $1", i)
        print(tuple(row))
    await conn.close()

asyncio.run(main())
PY
--- client_output
(1, 'a***@example.com', '****', None, 'VIP customer')
(2, 'b***@example.com', '****', None, None)
(3, 'c***@example.org', '****', None, 'prefers email')
(1, 'a***@example.com', '****', None, 'VIP customer')



=== TEST 25: without detectors, a DETAIL quoting values of rule-named columns loses them: unique violations ("Key (email)=(...)") and check violations ("Failing row contains (...)" of a table with such a column)
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;

stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                     127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_ssl_certificate     $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
        hoop_pg_auth                oidc=test;
        hoop_pg_role reader user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_pg_mask column=email name=emails;
    }
}
--- client
psql -X -q -At -v ON_ERROR_STOP=1 -p $TEST_NGINX_PG_PORT -U hoop -d hoop_test <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.mask_checked;
CREATE TABLE public.mask_checked (id int, email text CHECK (email LIKE '%@%'));
GRANT INSERT ON public.mask_checked TO app_scram;
SQL
C="user=reader dbname=hoop_test sslmode=require"
PGPASSWORD=$TOKEN_SRE psql -X -q -At "$C" -c "DELETE FROM mask_unique" \
    -c "INSERT INTO mask_unique VALUES ('twice.seen@example.com')" \
    -c "INSERT INTO mask_unique VALUES ('twice.seen@example.com')" 2>&1
PGPASSWORD=$TOKEN_SRE psql -X -q -At "$C" \
    -c "INSERT INTO mask_checked VALUES (7, 'not-an-address')" 2>&1
echo "psql exit $?"
--- client_output
ERROR:  duplicate key value violates unique constraint "mask_unique_email_key"
DETAIL:  Key (email)=(****) already exists.
ERROR:  new row for relation "mask_checked" violates check constraint "mask_checked_email_check"
DETAIL:  Failing row contains (****).
psql exit 1



=== TEST 26: with a statement policy: a denied statement gets the denial, the session goes on masked (simple and extended protocol)
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
        hoop_pg_role reader user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_pg_deny statement=drop "message=no DDL via the gateway";
        hoop_pg_mask column=email with=partial name=emails;
        hoop_pg_mask detect=credit_card name=text;
    }
}
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "DROP TABLE people"
Query "SELECT email, card FROM people WHERE id = 1"
Parse d1 "DROP TABLE people"
Bind "" d1
Execute "" 0
Sync
Parse s1 "SELECT email, card FROM people WHERE id = 2"
Describe S s1
Bind "" s1
Execute "" 0
Sync
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="no DDL via the gateway"
ReadyForQuery I
RowDescription email:text card:text
DataRow "a***@example.com" "****"
CommandComplete "SELECT 1"
ReadyForQuery I
ErrorResponse S=ERROR C=42501 M="no DDL via the gateway"
ReadyForQuery I
ParseComplete
ParameterDescription
RowDescription email:text card:text
BindComplete
DataRow "b***@example.com" "****"
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 27: the worker's catalog cache: a second session starts from it; a table created meanwhile elsewhere is of unknown origin there (refused under unknown=refuse, never shown), which drops the cached copy, so the next session reads the catalog and masks it
--- client
C="host=127.0.0.1 port=$TEST_NGINX_PG_GW_PORT3 user=reader dbname=hoop_test sslmode=disable"
psql -X -q -At -p $TEST_NGINX_PG_PORT -U hoop -d hoop_test \
    -c "DROP TABLE IF EXISTS public.mask_later" 2> /dev/null
PGPASSWORD=$TOKEN_SRE psql -X -At "$C" -c "SELECT email AS x FROM people WHERE id = 1"
psql -X -q -At -p $TEST_NGINX_PG_PORT -U hoop -d hoop_test \
    -c "CREATE TABLE public.mask_later (email text)" \
    -c "INSERT INTO public.mask_later VALUES ('later.one@example.com')" \
    -c "GRANT SELECT ON public.mask_later TO app_scram"
PGPASSWORD=$TOKEN_SRE psql -X -At "$C" -c "SELECT email AS x FROM mask_later" 2>&1 | grep -o 'FATAL: .*'
PGPASSWORD=$TOKEN_SRE psql -X -At "$C" -c "SELECT email AS x FROM mask_later"
--- client_output
****
FATAL:  a result column of unknown origin (an expression, or a table the gateway does not know yet) is refused by a masking rule
****
--- error_log eval
qr{hoop pg mask: catalog of "[^"]+/hoop_test" from the cache, \d+ columns}



=== TEST 28: rules and the row bound at the stream level apply to a server without its own
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_VAULT;

stream {
    hoop_pg_mask column=email with=partial name=emails;
    hoop_pg_mask_max_row 4k;

    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_role reader user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
    }
}
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "SELECT email AS e FROM people WHERE id = 1"
Query "SELECT id, email, blob FROM mask_wide WHERE id = 1"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription e:text
DataRow "a***@example.com"
CommandComplete "SELECT 1"
ReadyForQuery I
RowDescription id:int4 email:text blob:text
ErrorResponse S=FATAL C=54000 M="row too large for the gateway to mask (hoop_pg_mask_max_row)"



=== TEST 29: the catalog is read at login and again only after a statement with the word ALTER or CREATE ("created_at" is not one)
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
        hoop_pg_role reader user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_pg_mask column=email name=emails;
    }
}
--- raw_request eval
HoopPgWire::encode(qq{StartupMessage user=reader database=hoop_test
PasswordMessage "$::token"
Query "SELECT 1 AS created_at"
Query "SELECT email AS e FROM people WHERE id = 1"
Query "CREATE TEMP TABLE t29 (email text)"
Query "SELECT 2 AS altered"
Terminate})
--- pg_recv
AuthenticationCleartextPassword
AuthenticationOk
...
ReadyForQuery I
RowDescription created_at:int4
DataRow 1
CommandComplete "SELECT 1"
ReadyForQuery I
RowDescription e:text
DataRow "****"
CommandComplete "SELECT 1"
ReadyForQuery I
CommandComplete "CREATE TABLE"
ReadyForQuery I
RowDescription altered:int4
DataRow 2
CommandComplete "SELECT 1"
ReadyForQuery I
--- grep_error_log: hoop pg mask: reading the catalog
--- grep_error_log_out
hoop pg mask: reading the catalog
hoop pg mask: reading the catalog



=== TEST 30: without hoop_pg_auth (clients log in to PostgreSQL themselves) the catalog is read after the server's own greeting; results are masked the same
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg              127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_upstream_ssl disable;
        hoop_pg_mask column=email with=partial name=emails;
        hoop_pg_mask detect=credit_card name=text;
    }
}
--- pg_send
StartupMessage user=app_trust database=hoop_test
Query "SELECT email AS e, 'card ' || card AS c FROM people WHERE id = 1"
Terminate
--- pg_recv
AuthenticationOk
...
ReadyForQuery I
RowDescription e:text c:text
DataRow "a***@example.com" "card ****"
CommandComplete "SELECT 1"
ReadyForQuery I



=== TEST 31: without hoop_pg_auth, a second session starting from the worker's cached catalog, its first statement pipelined behind the startup
--- main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg              127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_upstream_ssl disable;
        hoop_pg_mask column=email with=partial name=emails;
    }
}
--- client
for i in 1 2; do
    perl -I$HOOP_T_LIB -MHoopPgWire -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new("127.0.0.1:$ENV{PGPORT}") or die "$!\n";
        print $s HoopPgWire::encode(qq{StartupMessage user=app_trust database=hoop_test
Query "SELECT email AS e FROM people WHERE id = 1"
Terminate});
        local $/;
        my $in = <$s>;
        print map { "$_\n" } grep { /^(DataRow|ErrorResponse)/ } HoopPgWire::decode($in);
    '
done
--- client_output
DataRow "a***@example.com"
DataRow "a***@example.com"
--- error_log eval
qr{hoop pg mask: catalog of "[^"]+/hoop_test" from the cache, \d+ columns}
