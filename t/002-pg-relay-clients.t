# The relay (hoop_pg without hoop_pg_auth: clients log in to PostgreSQL
# themselves) with real clients: psql, pgbench, DBD::Pg, psycopg2.  Each
# result is compared with the same client connected directly.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use HoopClient;

HoopClient::install();

repeat_each(1);
no_shuffle();

# every block gets the same gateway; a block may add to it
add_block_preprocessor(sub {
    my ($block) = @_;

    return if defined $block->main_config;

    $block->set_value('main_config', <<'CONF');
stream {
    upstream test_db {
        server 127.0.0.1:$TEST_NGINX_PG_PORT;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
        hoop_pg test_db;
        hoop_pg_ssl_certificate $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
    }
}
CONF
});

run_tests();

__DATA__

=== TEST 1: psql, several statements in one Query, as direct
--- client
psql -X -At -U app_trust -d hoop_test \
     -c "SELECT count(*) FROM people; SELECT name FROM people ORDER BY id LIMIT 2; SELECT NULL IS NULL"
--- client_same_direct
--- client_output_like
^\d+\n\S.*\n\S.*\nt\n$



=== TEST 2: psql over TLS terminated by the gateway, verified against the test CA
--- client
psql -X -At "host=localhost user=app_trust dbname=hoop_test sslmode=verify-full sslrootcert=$TEST_NGINX_PKI/ca.crt" \
     -c "SELECT 'over tls'" -c '\conninfo'
--- client_output_like
^over tls\n.*SSL connection \(protocol: TLSv1\.[23]



=== TEST 3: psql sslmode=disable and sslmode=prefer both work when TLS is configured
--- client
psql -X -At "user=app_trust dbname=hoop_test sslmode=disable" -c "SELECT 1"
psql -X -At "user=app_trust dbname=hoop_test sslmode=prefer" -c "SELECT 2"
--- client_output
1
2



=== TEST 4: SCRAM login of the client itself passes through the relay
--- client
export PGPASSWORD=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{app_scram}' $TEST_NGINX_VAULT)
psql -X -At -U app_scram -d hoop_test -c "SELECT current_user"
PGPASSWORD=wrong PGSSLMODE=disable psql -X -At -U app_scram -d hoop_test -c "SELECT 1" 2>&1 | sed 's/.*FATAL: */FATAL: /'
--- client_output
app_scram
FATAL: password authentication failed for user "app_scram"



=== TEST 5: \copy in and out through the relay
--- client
psql -X -q -At -U app_trust -d hoop_test <<'SQL'
CREATE TEMP TABLE t (a int, b text);
\copy t FROM STDIN
1	one
2	\N
\.
\copy (SELECT a, coalesce(b, 'null') FROM t ORDER BY a) TO STDOUT
SQL
--- client_output
1	one
2	null



=== TEST 6: an error in COPY FROM STDIN mid-copy, then the session goes on
--- client
psql -X -q -At -U app_trust -d hoop_test <<'SQL' 2>&1
CREATE TEMP TABLE t (a int);
\copy t FROM STDIN
1
not a number
\.
SELECT 'still here', count(*) FROM t;
SQL
--- client_output_like
ERROR:  invalid input syntax for type integer: "not a number".*still here\|0



=== TEST 7: Ctrl-C in psql cancels a running query through the gateway
The cancel request arrives on a new connection and is relayed to the server.
--- client
start=$(date +%s)
timeout --foreground --preserve-status -s INT 1 psql -X -At -U app_trust -d hoop_test -c "SELECT pg_sleep(20)"
echo "exit=$? elapsed<5=$(( $(date +%s) - start < 5 ))"
--- client_output
Cancel request sent
ERROR:  canceling statement due to user request
exit=1 elapsed<5=1



=== TEST 8: pgbench in the three query modes
--- client
pgbench -i -s 1 -q -U hoop hoop_test > /dev/null 2>&1 || echo "pgbench -i failed"
for mode in simple extended prepared; do
    pgbench -n -S -M $mode -c 2 -t 100 -U hoop hoop_test 2>&1 \
        | grep -E '^(query mode|number of transactions actually processed|number of failed)'
done
--- client_output
query mode: simple
number of transactions actually processed: 200/200
number of failed transactions: 0 (0.000%)
query mode: extended
number of transactions actually processed: 200/200
number of failed transactions: 0 (0.000%)
query mode: prepared
number of transactions actually processed: 200/200
number of failed transactions: 0 (0.000%)



=== TEST 9: DBD::Pg prepared statements with placeholders, server-side
--- client
perl -MDBI -e '
    my $dbh = DBI->connect("dbi:Pg:dbname=hoop_test", "app_trust", "",
                           { RaiseError => 1, AutoCommit => 1, pg_server_prepare => 1 });
    my $sth = $dbh->prepare("SELECT id, name FROM people WHERE id = ? OR id = ? ORDER BY id");
    for my $pair ([1, 2], [3, 4]) {
        $sth->execute(@$pair);
        while (my $r = $sth->fetchrow_arrayref) { print "$r->[0]\n" }
    }
    $dbh->do("CREATE TEMP TABLE c (v text)");
    $dbh->do("COPY c FROM STDIN");
    $dbh->pg_putcopydata("x\n"); $dbh->pg_putcopydata("y\n"); $dbh->pg_putcopyend;
    print join(",", @{ $dbh->selectcol_arrayref("SELECT v FROM c ORDER BY v") }), "\n";
'
--- client_same_direct
--- client_output
1
2
3
4
x,y



=== TEST 10: psycopg2 (implicit BEGIN, client-side interpolation)
--- client
/usr/bin/python3 - <<'PY'
import psycopg2
conn = psycopg2.connect(host="127.0.0.1", port=int(__import__("os").environ["PGPORT"]),
                        user="app_trust", dbname="hoop_test")
cur = conn.cursor()
cur.execute("SELECT %s::int + %s::int, %s", (40, 2, "it's"))
print(cur.fetchone())
cur.execute("SELECT count(*) FROM people WHERE id < %s", (3,))
print(cur.fetchone()[0])
conn.rollback()
conn.close()
PY
--- client_same_direct
--- client_output
(42, "it's")
2



=== TEST 11: a 64 MB value and a 2-million-row result stream through
--- client
psql -X -At -U app_trust -d hoop_test -c "SELECT length(repeat('x', 64 * 1024 * 1024))" \
     -c "SELECT md5(string_agg(g::text, ',')) FROM generate_series(1, 10) g"
psql -X -At -U app_trust -d hoop_test -c "SELECT repeat('y', 64 * 1024 * 1024)" | wc -c
psql -X -At -U app_trust -d hoop_test -c "SELECT g FROM generate_series(1, 2000000) g" | md5sum
--- client_same_direct
--- client_timeout: 120
--- timeout: 120
--- client_output_like
^67108864\n[0-9a-f]{32}\n67108865\n[0-9a-f]{32}  -\n$
