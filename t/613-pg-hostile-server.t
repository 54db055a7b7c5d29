# A hostile or broken upstream during the gateway's own login to it: SCRAM
# server messages with a huge nonce, a nonce that is not ours, bad base64,
# absurd iteration counts, a forged server signature, an authentication
# message announcing 2^31 bytes.  The client gets one clear FATAL, before
# any AuthenticationOk (the gateway logs in upstream first; never
# the server's bytes, never a hang) and the worker keeps serving.
#
# PostgreSQL never sends these, so the upstream here is a mock (a forked
# Perl server, one connection per block): it answers the startup packet
# with AuthenticationSASL, reads the SASLInitialResponse, and sends the
# block's server-first-message (with the client's nonce where the block
# says NONCE) in an AuthenticationSASLContinue, then what follows.

use strict;
use warnings;

use IO::Socket::INET ();
use MIME::Base64 qw(encode_base64 decode_base64);
use Digest::SHA qw(hmac_sha256 sha256);

our ($kit, $token, $MOCK_PORT);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $token = $kit->token(key => 'ec256', claims => { groups => ['sre'] });
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no free port: $!\n";
    $MOCK_PORT = $ENV{TEST_NGINX_MOCK_PG_PORT} = $s->sockport;
}

use Test::Nginx::Socket 'no_plan';
use HoopPgWire ();
use HoopFault;

HoopFault::install();

repeat_each(1);
no_shuffle();

# the mock: one connection; $first is a sub (client nonce -> bytes to send
# after the SASLInitialResponse), $then a sub (what the gateway sent next
# -> bytes to send)
sub mock {
    my ($first, $then) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $MOCK_PORT, Listen => 1,
                                  ReuseAddr => 1)
        or die "mock listen: $!\n";
    my $pid = fork // die "fork: $!\n";
    if ($pid) {
        close $l;
        return $pid;
    }
    local $SIG{ALRM} = sub { POSIX::_exit(0) };
    alarm 20;
    my $c = $l->accept or POSIX::_exit(1);
    my $len = unpack 'N', read_n($c, 4);
    read_n($c, $len - 4);
    print {$c} HoopPgWire::message('R', pack('N', 10) . "SCRAM-SHA-256\0\0");
    my ($type, $body) = HoopFault::read_msg($c, 10);
    my ($nonce) = $body =~ /r=([^,\0]+)/;
    print {$c} $first->($nonce // '');
    if ($then) {
        my ($t2, $b2) = HoopFault::read_msg($c, 10);
        print {$c} $then->($b2 // '') if defined $t2;
    }
    # hold the connection until the gateway closes it
    1 while sysread $c, my $buf, 4096;
    POSIX::_exit(0);
}

sub read_n {
    my ($s, $n) = @_;
    my $buf = '';
    while (length $buf < $n) {
        sysread($s, $buf, $n - length $buf, length $buf) or POSIX::_exit(1);
    }
    return $buf;
}

sub sasl_continue { HoopPgWire::message('R', pack('N', 11) . $_[0]) }

# a login through the gateway: what the client got, as transcript lines
sub client_login {
    my $s = gw_connect();
    print {$s} HoopPgWire::encode('StartupMessage user=mocked database=hoop_test');
    read_until($s, 'R', 5);
    print {$s} HoopPgWire::message('p', "$::token\0");
    my @l = read_until($s, '', 10);
    close $s;
    return join ' | ', @l;
}

sub hostile {
    my ($first, $then) = @_;
    my $pid = mock($first, $then);
    my $got = client_login();
    waitpid $pid, 0;
    return $got;
}

# after each block: a real login through the real PostgreSQL still works
sub still_serving {
    my $s = pg_login(user => 'trust', token => $::token,
                     port => $ENV{TEST_NGINX_PG_GW_PORT2});
    my @r = query_ok($s, 'SELECT 7');
    close $s;
    return join ' | ', @r;
}

$ENV{TEST_NGINX_PG_GW_PORT2} = $ENV{TEST_NGINX_PG_GW_PORT} + 1;

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

        hoop_pg                 127.0.0.1:$TEST_NGINX_MOCK_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl    disable;
        hoop_pg_startup_timeout 3s;
        hoop_pg_role mocked user=app_scram password=vault:app_scram
                            database=hoop_test;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT2;

        hoop_pg                 127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_auth            oidc=test;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl    disable;
        hoop_pg_role trust user=app_trust database=hoop_test;
    }
}
CONF

    $block->set_value('no_error_log', "[alert]\n[crit]\n[emerg]\n");
});

run_tests();

__DATA__

=== TEST 1: server nonces of 100 KB (over the login buffer) and of 300 bytes (over the 256 the client accepts)
--- fault
out(hostile(sub { sasl_continue("r=$_[0]" . ('x' x 100_000)
                                . ",s=QSXCR+Q6sek8bf92,i=4096") }));
out(hostile(sub { sasl_continue("r=$_[0]" . ('x' x 300)
                                . ",s=QSXCR+Q6sek8bf92,i=4096") }));
out(still_serving());
--- fault_output
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
DataRow 7 | CommandComplete "SELECT 1"
--- error_log
hoop pg: invalid message from upstream during login
hoop pg: SCRAM server nonce invalid



=== TEST 2: a server nonce that does not extend ours
--- fault
out(hostile(sub { sasl_continue("r=not-our-nonce,s=QSXCR+Q6sek8bf92,i=4096") }));
out(still_serving());
--- fault_output
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
DataRow 7 | CommandComplete "SELECT 1"
--- error_log
hoop pg: SCRAM server nonce invalid



=== TEST 3: a salt that is not base64
--- fault
out(hostile(sub { sasl_continue("r=$_[0]abc,s=!!not*base64!!,i=4096") }));
out(still_serving());
--- fault_output
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
DataRow 7 | CommandComplete "SELECT 1"
--- error_log
hoop pg: SCRAM salt invalid



=== TEST 4: iteration counts of 0 and past 2^63
--- fault
out(hostile(sub { sasl_continue("r=$_[0]abc,s=QSXCR+Q6sek8bf92,i=0") }));
out(hostile(sub { sasl_continue("r=$_[0]abc,s=QSXCR+Q6sek8bf92,i=99999999999999999999999") }));
out(still_serving());
--- fault_output
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
DataRow 7 | CommandComplete "SELECT 1"
--- error_log
hoop pg: SCRAM iteration count invalid



=== TEST 5: an iteration count past hoop_pg_upstream_scram_max_iterations (default 100000) is refused before any PBKDF2 work: ten million rounds would stall the worker for seconds
--- fault
out(hostile(sub { sasl_continue("r=$_[0]abc,s=QSXCR+Q6sek8bf92,i=100001") }));
out(hostile(sub { sasl_continue("r=$_[0]abc,s=QSXCR+Q6sek8bf92,i=10000000") }));
out(still_serving());
--- fault_output
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
DataRow 7 | CommandComplete "SELECT 1"
--- error_log
hoop pg: the server asks for 100001 SCRAM iterations, over hoop_pg_upstream_scram_max_iterations
hoop pg: the server asks for 10000000 SCRAM iterations, over hoop_pg_upstream_scram_max_iterations
--- no_error_log
SCRAM PBKDF2, 100001 iterations



=== TEST 5: a valid server-first, then a server signature that is not the server's (a server that does not know the password)
--- fault
out(hostile(sub { sasl_continue("r=$_[0]abc,s=QSXCR+Q6sek8bf92,i=4096") },
            sub { HoopPgWire::message('R', pack('N', 12)
                      . 'v=' . encode_base64('x' x 32, '')) }));
out(still_serving());
--- fault_output
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
DataRow 7 | CommandComplete "SELECT 1"
--- error_log
hoop pg: SCRAM server signature does not match: the upstream does not know the credential



=== TEST 6: an authentication message announcing 2^31 bytes, then nothing
--- fault
out(hostile(sub { "R" . pack('N', 0x7fffffff) . pack('N', 11) . "r=" }));
out(still_serving());
--- fault_output
ErrorResponse S=FATAL C=08004 M="the gateway could not log in to the database server" | EOF
DataRow 7 | CommandComplete "SELECT 1"
--- error_log
hoop pg: invalid message from upstream during login
