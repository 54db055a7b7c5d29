# Audit events of the Postgres gateway in Redis: auth.ok, auth.failed,
# statement (normalized text, decision), session.close; never the token.

use strict;
use warnings;

our ($kit);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $ENV{TOKEN_SRE} = $kit->token(key => 'ec256', claims => {
        sub => 'u-1', email => 'ana@example.com', groups => ['sre'],
    });
    $ENV{TOKEN_ENG} = $kit->token(key => 'ec256', claims => {
        sub => 'u-2', groups => ['eng'],
    });
    # a stream of this run only
    $ENV{TEST_NGINX_AUDIT_STREAM} = "hoop:test:audit:$$";
}

use Test::Nginx::Socket 'no_plan';
use HoopClient;

HoopClient::install();

repeat_each(1);
no_shuffle();

add_block_preprocessor(sub {
    my ($block) = @_;

    return if defined $block->main_config;

    $block->set_value('main_config', <<'CONF');
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
        hoop_pg_role writer user=app_scram password=vault:app_scram
                            database=hoop_test groups=sre;
        hoop_pg_deny statement=drop "message=no DDL via the gateway";
        hoop_audit on;
    }
}
CONF
});

run_tests();

__DATA__

=== TEST 1: a session's events, in order, with identity, rows and errors of each query; literals and the token stay out
--- client
export REDISCLI_AUTH=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; print decode_json(<$f>)->{redis}' $TEST_NGINX_VAULT)
R="redis-cli -p $TEST_NGINX_REDIS_PORT --no-auth-warning"
$R DEL $TEST_NGINX_AUDIT_STREAM > /dev/null
PGPASSWORD=$TOKEN_SRE psql -X -At "user=writer dbname=hoop_test sslmode=require" \
    -c "SELECT count(*) FROM people WHERE email = 'secret-literal@example.com'" \
    -c "SELECT 1/0" -c "SELECT id FROM people WHERE id <= 3" -c "DROP TABLE people" > /dev/null 2>&1
PGPASSWORD=$TOKEN_ENG psql -X -At "user=writer dbname=hoop_test sslmode=require" -c "SELECT 1" 2> /dev/null
# events are shipped asynchronously: wait for the last one
for i in $(seq 50); do
    [ "$($R XLEN $TEST_NGINX_AUDIT_STREAM)" -ge 7 ] && break; sleep 0.1
done
$R --raw XRANGE $TEST_NGINX_AUDIT_STREAM - + > /tmp/hoop-audit-$$.txt
perl -e '
    local $/; my $all = <STDIN>;
    # entries: id, then name/value lines; keep type + a few fields
    my @lines = split /\n/, $all;
    my (@events, $cur);
    while (@lines) {
        my $l = shift @lines;
        if ($l =~ /^\d+-\d+$/) { push @events, $cur = {}; next }
        my $v = shift @lines; $cur->{$l} = $v;
    }
    for my $e (@events) {
        print join(" ", map { "$_=" . ($e->{$_} // "-") }
                   qw(type user email groups role database db_user decision rule statement rows error reason)), "\n";
        # a duration is measured, whatever it is
        die "no duration_ms in a statement event\n"
            if $e->{type} eq "statement" && ($e->{duration_ms} // "") !~ /^\d+$/;
    }
' < /tmp/hoop-audit-$$.txt
grep -c "$TOKEN_SRE" /tmp/hoop-audit-$$.txt
grep -c "secret-literal" /tmp/hoop-audit-$$.txt
grep -c "session_id" /tmp/hoop-audit-$$.txt
rm -f /tmp/hoop-audit-$$.txt
--- client_exit: 0
--- client_output
type=auth.ok user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=- rule=- statement=- rows=- error=- reason=-
type=statement user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=allowed rule=- statement=SELECT count(*) FROM people WHERE email = $1 rows=1 error=- reason=-
type=statement user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=allowed rule=- statement=SELECT $1/$2 rows=0 error=22012 reason=-
type=statement user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=allowed rule=- statement=SELECT id FROM people WHERE id <= $1 rows=3 error=- reason=-
type=statement user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=denied rule=hoop_pg_deny statement=drop statement=DROP TABLE people rows=0 error=42501 reason=-
type=session.close user=u-1 email=ana@example.com groups=sre role=writer database=hoop_test db_user=app_scram decision=- rule=- statement=- rows=- error=- reason=-
type=auth.failed user=u-2 email=- groups=eng role=writer database=hoop_test db_user=- decision=- rule=- statement=- rows=- error=- reason="u-2" may not use role profile "writer"
0
0
7
