# Secrets stay inside: sessions with token login through the Postgres
# gateway (upstream SCRAM, MD5 and cleartext passwords from the vault),
# HTTP requests with hoop_auth + hoop_credential, a rejected token on
# each side, audit on everywhere, the error log at debug level, access
# logs with the $hoop_* variables.  Then everything the gateway wrote is
# collected (every file under the server root's logs/, the audit spool
# directory, the audit stream read back from Redis, every response the
# clients got) and searched for every vaulted secret, the MD5 password
# hash PostgreSQL would accept for app_md5, and every bearer token used
# (whole, and its signature part alone): none may be there.
#
# The search can fail: positive controls run the same search for values
# that must be there (the token's hash prefix in the audit stream, the
# identity in the access logs) and for a secret planted on purpose in a
# collected file.  (Checked by hand too: without the set-aside step
# below, the search reports the HTTP tokens and their signature parts in
# error.log, from nginx's own "http header:" debug lines.)

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use File::Find ();
use File::Temp ();
use HTTP::Tiny ();
use IO::Socket::INET ();
use JSON::PP ();
use Redis ();

our ($kit, $token, $bad, $http_token, $http_bad, $DIR, %SECRET, $VAULT);

BEGIN {
    require HoopToken;

    $kit = HoopToken->standard;
    $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
    $ENV{TEST_NGINX_ISSUER} = $kit->issuer;
    $token = $kit->token(key => 'ec256', claims => {
        sub => 'sec-user', email => 'sec-user@example.com',
        groups => ['sre'] });
    $http_token = $kit->token(key => 'rsa1', claims => {
        sub => 'sec-user', email => 'sec-user@example.com',
        groups => ['sre'], jti => 'http' });
    # well formed, signed by a key the provider does not know
    my $other = HoopToken->new;
    $other->add_key('stranger', type => 'EC', curve => 'P-256');
    $bad = $other->token(key => 'stranger', claims => { sub => 'sec-user',
                                                        groups => ['sre'] });
    $http_bad = $other->token(key => 'stranger', claims => {
        sub => 'sec-user', groups => ['sre'], jti => 'http' });

    $DIR = File::Temp::tempdir('hoop-620-XXXXXX', TMPDIR => 1,
                               CLEANUP => 1);
    chmod 0755, $DIR;
    $ENV{TEST_NGINX_SECRETS_DIR} = $DIR;
    $ENV{TEST_NGINX_AUDIT_STREAM} = "hoop:t620:$$";

    # the test vault plus a secret for hoop_credential
    open my $fh, '<', $ENV{TEST_NGINX_VAULT} or die "vault: $!\n";
    my $v = JSON::PP->new->decode(do { local $/; <$fh> });
    $v->{api_token} = 'api-' . join '', map { ('a' .. 'z')[rand 26] } 1 .. 24;
    %SECRET = %$v;
    $VAULT = "$DIR/vault.json";
    open my $out, '>', $VAULT or die "$VAULT: $!\n";
    print {$out} JSON::PP->new->encode($v);
    close $out;
    chmod 0600, $VAULT;
    $ENV{TEST_NGINX_SECRETS_VAULT} = $VAULT;

    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no free port: $!\n";
    $ENV{TEST_NGINX_BACKEND_PORT} = $s->sockport;
}

use Test::Nginx::Socket 'no_plan';
use HoopFault;

HoopFault::install();

# an HTTP backend outside nginx (so nginx's own debug log of the requests
# it receives is not mixed in): it answers every GET with a fixed file
sub backend_start {
    mkdir "$DIR/www";
    open my $fh, '>', "$DIR/www/x" or die;
    print {$fh} "backend answer\n";
    close $fh;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        chdir "$DIR/www";
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec('python3', '-m', 'http.server', '--bind', '127.0.0.1',
             $ENV{TEST_NGINX_BACKEND_PORT}) or POSIX::_exit(127);
    }
    wait_until(sub { IO::Socket::INET->new("127.0.0.1:"
                                           . $ENV{TEST_NGINX_BACKEND_PORT}) },
               'the backend');
    return $pid;
}

# file name => content of everything under a directory
sub slurp_tree {
    my ($root, $into) = @_;
    return if !-d $root;
    File::Find::find({ no_chdir => 1, wanted => sub {
        return if !-f $_;
        open my $fh, '<:raw', $_ or return;
        local $/;
        $into->{$_} = <$fh> // '';
    } }, $root);
}

# where (which collected item) a value shows up
sub where {
    my ($items, $value) = @_;
    return sort grep { index($items->{$_}, $value) >= 0 } keys %$items;
}

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: no vaulted secret and no bearer token in anything the gateway wrote
--- main_config
hoop_oidc test issuer=$TEST_NGINX_ISSUER audience=hoop
          jwks=$TEST_NGINX_JWKS groups_claim=groups;
hoop_vault file=$TEST_NGINX_SECRETS_VAULT;
hoop_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=vault:redis;
hoop_audit_spool $TEST_NGINX_SECRETS_DIR/spool;
hoop_audit_stream $TEST_NGINX_AUDIT_STREAM;

stream {
    log_format hoop_pg '$remote_addr $hoop_pg_session_id $hoop_pg_user '
                       '$hoop_pg_email $hoop_pg_role $hoop_pg_database '
                       '$hoop_pg_token_id $hoop_pg_statements '
                       '"$hoop_pg_end_reason"';
    access_log logs/pg-access.log hoop_pg;

    server {
        listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;

        hoop_pg                     127.0.0.1:$TEST_NGINX_PG_PORT;
        hoop_pg_ssl_certificate     $TEST_NGINX_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $TEST_NGINX_PKI/gateway.key;
        hoop_pg_auth                oidc=test;
        hoop_pg_upstream_ssl        disable;
        hoop_pg_role scram user=app_scram password=vault:app_scram
                           database=hoop_test groups=sre;
        hoop_pg_role md5   user=app_md5 password=vault:app_md5
                           database=hoop_test groups=sre;
        hoop_pg_role clear user=app_clear password=vault:app_clear
                           database=hoop_test groups=sre;
        hoop_audit on;
    }
}
--- http_config
log_format hoop_http '$remote_addr "$request" $status $hoop_user '
                     '$hoop_email $hoop_groups $hoop_subject $hoop_token_id '
                     '"$hoop_claim_groups"';
--- config
location /api/ {
    hoop_auth        oidc=test;
    hoop_credential  Authorization "Bearer vault:api_token";
    hoop_audit_http  on;
    access_log       logs/http-access.log hoop_http;
    proxy_pass       http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/;
}
location = /status {
    hoop_audit_status;
}
--- fault
my $backend = backend_start();
my %items;     # what the gateway wrote or answered, by where it was

# Postgres: one session per upstream auth method, then a rejected token
for my $role (qw(scram md5 clear)) {
    local $ENV{PGPASSWORD} = $::token;
    my $o = `psql -X -At "host=127.0.0.1 port=$ENV{TEST_NGINX_PG_GW_PORT} user=$role dbname=hoop_test sslmode=require" -c "SELECT current_user" 2>&1`;
    $items{"psql output ($role)"} = $o;
    out("$role: $o" =~ s/\n//gr);
}
{
    local $ENV{PGPASSWORD} = $::bad;
    my $o = `psql -X -At "host=127.0.0.1 port=$ENV{TEST_NGINX_PG_GW_PORT} user=scram dbname=hoop_test sslmode=require" -c "SELECT 1" 2>&1`;
    $items{'psql output (bad token)'} = $o;
    out("bad token refused: ", $o =~ /FATAL/ ? 'yes' : "no: $o");
}

# HTTP: the credential is injected upstream, then a rejected token
my $http = HTTP::Tiny->new(timeout => 10);
my $url = 'http://127.0.0.1:' . server_port() . '/api/x';
for my $t ([good => $::http_token], [bad => $::http_bad]) {
    my $r = $http->get($url, { headers => { Authorization => "Bearer $t->[1]" } });
    $items{"http response ($t->[0])"} = join "\n", $r->{status},
        (map { "$_: " . (ref $r->{headers}{$_} ? "@{ $r->{headers}{$_} }"
                                               : $r->{headers}{$_}) }
         sort keys %{ $r->{headers} }), $r->{content};
    out("http $t->[0]: $r->{status}");
}
kill 'TERM', $backend;
waitpid $backend, 0;

# everything shipped (sent, or spooled and replayed)
wait_until(sub { my $s = JSON::PP->new->decode($http->get(
                     'http://127.0.0.1:' . server_port() . '/status')->{content});
                 $s->{sent} + $s->{replayed} >= 10 && !$s->{worker}{queued} },
           'the audit events');

my $redis = Redis->new(server => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}",
                       password => $SECRET{redis}, reconnect => 0);
my @events = @{ $redis->xrange($ENV{TEST_NGINX_AUDIT_STREAM}, '-', '+') };
$items{'audit stream'} = join "\n", map { join ' ', $_->[0], @{ $_->[1] } }
                                    @events;
$redis->del($ENV{TEST_NGINX_AUDIT_STREAM});
out("audit events: ", scalar @events >= 10 ? 'yes' : scalar @events);

my $root = $ENV{TEST_NGINX_SERVROOT} // Test::Nginx::Socket::server_root();
slurp_tree("$root/logs", \%items);

# nginx itself (ngx_http_request.c, not a module) writes every request
# header line at debug level, the client's own Authorization included:
# those lines are set aside and counted (docs/reliability.md: no debug
# level for HTTP in production); nothing else may carry a token
my $core = 0;
for my $f (grep { m{/logs/error\.log$} } keys %items) {
    $core += $items{$f} =~ s/^.*\[debug\] .* http header: "Authorization: Bearer .*\n//mg;
}
out("nginx's own debug lines of the client's Authorization header: $core");
slurp_tree("$DIR/spool", \%items);
out("error log at debug level: ",
    (grep { m{/logs/error\.log$} && $items{$_} =~ /\[debug\]/ } keys %items)
    ? 'yes' : 'no');

# the secrets, and what must not be found either
my %needle = map { ("vault:$_" => $SECRET{$_}) } sort keys %SECRET;
$needle{'md5 hash of app_md5'} = 'md5' . md5_hex($SECRET{app_md5} . 'app_md5');
for my $t ([token => $::token], ['bad token' => $::bad],
           ['http token' => $::http_token], ['http bad token' => $::http_bad])
{
    $needle{$t->[0]} = $t->[1];
    $needle{"$t->[0] signature"} = ($t->[1] =~ /\.([^.]+)$/)[0];
}
my @found;
for my $name (sort keys %needle) {
    my @w = where(\%items, $needle{$name});
    push @found, "$name in " . join(', ', @w) if @w;
}
out("secrets searched: ", scalar keys %needle);
out("found: ", @found ? join '; ', @found : 'none');

# positive controls: the same search finds what is meant to be there
my $tid = substr sha256_hex($::http_token), 0, 16;
out("control, token id in the audit stream: ",
    (grep { $_ eq 'audit stream' } where(\%items, $tid)) ? 'found' : 'missing');
out("control, identity in both access logs: ",
    scalar(grep { /access\.log$/ } where(\%items, 'sec-user@example.com')));
$items{planted} = "x $SECRET{app_scram} y";
out("control, a planted secret: ",
    join ', ', grep { $_ eq 'planted' } where(\%items, $SECRET{app_scram}));
--- fault_output
scram: app_scram
md5: app_md5
clear: app_clear
bad token refused: yes
http good: 200
http bad: 401
audit events: yes
nginx's own debug lines of the client's Authorization header: 2
error log at debug level: yes
secrets searched: 16
found: none
control, token id in the audit stream: found
control, identity in both access logs: 2
control, a planted secret: planted
--- no_error_log
[alert]
[crit]
--- timeout: 60
