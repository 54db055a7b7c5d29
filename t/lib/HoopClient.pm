package HoopClient;

# Real Postgres clients (psql, pgbench, DBD::Pg, psycopg2) inside
# Test::Nginx blocks.
#
#   --- client
#   psql -X -At -c 'SELECT 1'
#   --- client_output
#   1
#
# A block with a "client" section gets a trivial HTTP request (to a
# location added to its config) so that nginx is up while a response body
# check runs the client: the section is a bash script, run with
# PGHOST=127.0.0.1 and PGPORT pointing at the gateway
# ($TEST_NGINX_PG_GW_PORT).  Checks, each optional:
#
#   client_output        stdout+stderr must equal this (after $TEST_NGINX_*
#                        expansion)
#   client_output_like   ... must match this regex
#   client_exit          expected exit status (default 0)
#   client_same_direct   run the script again against PostgreSQL directly
#                        ($TEST_NGINX_PG_PORT) and require the same output
#
# Only documented Test::Nginx extension points are used
# (add_block_preprocessor, add_response_body_check), so the suites run
# under upstream Test::Nginx too.

use strict;
use warnings;

use Test::More;
use Test::Nginx::Socket ();

sub expand {
    my ($text) = @_;

    $text =~ s{\$(TEST_NGINX_[A-Z0-9_]+)}{
        defined $ENV{$1} ? $ENV{$1} : die "HoopClient: \$$1 is not set\n"
    }ge;

    return $text;
}

# run the block's script against a port; returns (output, exit status)
sub run_client {
    my ($script, $port, $timeout) = @_;

    local $ENV{PGHOST} = '127.0.0.1';
    local $ENV{PGPORT} = $port;
    local $ENV{PGCONNECT_TIMEOUT} = 10;

    my $pid = open(my $out, '-|') // die "HoopClient: fork: $!\n";

    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT);
        exec('timeout', '-k', '5', $timeout, 'bash', '-c', $script);
        die "HoopClient: exec: $!\n";
    }

    local $/;
    my $output = <$out> // '';
    close($out);

    return ($output, $? >> 8);
}

sub install {
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my ($block) = @_;

        return unless defined $block->client;

        my $config = $block->config // '';
        $block->set_value('config', $config
                          . "\nlocation = /hoop-client { return 204; }\n");
        $block->set_value('request', "GET /hoop-client");
        $block->set_value('error_code', 204);
    });

    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;

        return unless defined $block->client;

        my $name = $block->name;

        if ($dry_run) {
            SKIP: { skip "$name - client: dry run", 1; }
            return;
        }

        my $script = expand($block->client);
        my $timeout = $block->client_timeout // 60;

        my ($output, $status) = run_client($script,
                                           $ENV{TEST_NGINX_PG_GW_PORT},
                                           $timeout);

        my $want_status = $block->client_exit // 0;
        $want_status =~ s/\s+\z//;

        is($status, $want_status, "$name - client exit status")
            or diag("client output:\n$output");

        if (defined $block->client_output) {
            is($output, expand($block->client_output),
               "$name - client output");
        }

        if (defined $block->client_output_like) {
            my $re = expand($block->client_output_like);
            $re =~ s/\n\z//;
            like($output, qr/$re/ms, "$name - client output matches");
        }

        if (defined $block->client_same_direct) {
            my ($direct) = run_client($script, $ENV{TEST_NGINX_PG_PORT},
                                      $timeout);
            is($output, $direct,
               "$name - same output as a direct connection");
        }
    });
}

1;
