# hoop_vault: secrets from a JSON file and from the environment, read at
# start and on every reload, refused when the file is readable by others,
# and never written to a log.
#
# What the vault holds is observed the only way it leaves nginx: through
# hoop_credential to an upstream (the runner's tcp_listen mock, or an nginx
# server of the same test whose error log stays out of the checked one).
# Every block checks that no secret value appears in the debug-level
# error log.

use strict;
use warnings;

use File::Temp qw(tempdir);

our ($Dir, %Secret, @Secrets);

sub write_mode {
    my ($path, $mode, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print {$fh} $text;
    close $fh or die "$path: $!";
    chmod $mode, $path or die "$path: $!";
}

BEGIN {
    my $rand = sub { join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 20 };

    %Secret = map { $_ => "$_-" . $rand->() }
              qw(db token ro env old new bad dup);
    @Secrets = values %Secret;

    $Dir = tempdir('hoop-t120-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    my $good = qq({"db_password": "$Secret{db}", "api_token": "$Secret{token}",
                   "cafe": "caf\\u00e9 \\"$Secret{token}\\""});

    write_mode("$Dir/good.json", 0600, $good);
    write_mode("$Dir/readonly.json", 0400, qq({"ro_secret": "$Secret{ro}"}));
    write_mode("$Dir/world.json", 0644, $good);
    write_mode("$Dir/group.json", 0640, $good);
    write_mode("$Dir/group-writable.json", 0620, $good);
    write_mode("$Dir/broken.json", 0600,
               qq({"api_token": "$Secret{bad}" "next": "x"}));
    write_mode("$Dir/nested.json", 0600, qq({"db": {"password": "x"}}));
    write_mode("$Dir/number.json", 0600, qq({"port": 5432}));
    write_mode("$Dir/array.json", 0600, qq(["$Secret{bad}"]));
    write_mode("$Dir/empty.json", 0600, '');
    write_mode("$Dir/empty-value.json", 0600, qq({"blank": ""}));
    write_mode("$Dir/bad-name.json", 0600, qq({"no spaces": "x"}));
    write_mode("$Dir/dup.json", 0600, qq({"db_password": "$Secret{dup}"}));

    $ENV{HOOP_T120_env_token} = $Secret{env};
    $ENV{HOOP_T120_db_password} = $Secret{dup};

    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;

    $ENV{TEST_NGINX_VAULT_DIR} = $Dir;
    $ENV{TEST_NGINX_UPSTREAM_PORT} = $port + 1;
    $ENV{TEST_NGINX_T120_OLD} = $Secret{old};
    $ENV{TEST_NGINX_T120_NEW} = $Secret{new};
}

use Test::Nginx::Socket 'no_plan';

# a reload needs a master process
master_on();

add_block_preprocessor(sub {
    my ($block) = @_;

    # the rotation test rewrites this file; every block starts from "old"
    write_mode("$Dir/rotate.json", 0600, qq({"rotating": "$Secret{old}"}));

    my $no = $block->no_error_log;
    my @pats = !defined $no ? ()
             : ref $no eq 'ARRAY' ? @$no
             : ref $no ? ($no)
             : grep { length } split /\n+/, $no;
    $block->set_value(no_error_log => [@pats, @Secrets]);
});

add_response_body_check(sub {
    my ($block, $body, $req, $rep) = @_;
    my @leaked = grep { index($body // '', $_) >= 0 } @Secrets;
    Test::More::ok(!@leaked, $block->name . " - no secret in the response body"
                             . " (req $req)");
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a secret from a 0600 file reaches the upstream
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/good.json;
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:api_token";
    hoop_credential X-Db-Password vault:db_password;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /t
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
Authorization: Bearer $::Secret{token}\r
X-Db-Password: $::Secret{db}\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- no_error_log
[error]
[warn]



=== TEST 2: JSON escapes are decoded (UTF-8 bytes, quotes)
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/good.json;
--- config
location = /t {
    hoop_credential X-Cafe vault:cafe;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /t
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
X-Cafe: caf\xc3\xa9 \"$::Secret{token}\"\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok



=== TEST 3: a read-only (0400) file, several files, and a repeated directive
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/readonly.json;
hoop_vault file=$TEST_NGINX_VAULT_DIR/good.json env=HOOP_T120_env_;
--- config
location = /t {
    hoop_credential X-Ro vault:ro_secret;
    hoop_credential X-Db vault:db_password;
    hoop_credential X-Env vault:token;
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /t
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
X-Ro: $::Secret{ro}\r
X-Db: $::Secret{db}\r
X-Env: $::Secret{env}\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok
--- no_error_log
[error]



=== TEST 4: secrets from environment variables (name = what follows the prefix)
--- main_config
hoop_vault env=HOOP_T120_env_;
--- config
location = /t {
    hoop_credential Authorization "Token vault:token";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- request
GET /t
--- tcp_listen: $TEST_NGINX_UPSTREAM_PORT
--- tcp_query eval
"GET /t HTTP/1.0\r
Host: 127.0.0.1:$ENV{TEST_NGINX_UPSTREAM_PORT}\r
Connection: close\r
Authorization: Token $::Secret{env}\r
\r
"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- response_body
ok



=== TEST 5: a world-readable file is refused, naming the file and the mode
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/world.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault file \"$::Dir/world.json\" is accessible by group or others (mode 0644): refused, make it readable by its owner only (chmod 600)"]



=== TEST 6: a group-readable file is refused
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/group.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault file \"$::Dir/group.json\" is accessible by group or others (mode 0640)"]



=== TEST 7: a group-writable file is refused
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/group-writable.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault file \"$::Dir/group-writable.json\" is accessible by group or others (mode 0620)"]



=== TEST 8: a missing secret fails, naming the secret and where it was looked up
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/good.json env=HOOP_T120_env_;
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:db_pasword";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 qr/vault secret "db_pasword" not found \(looked in file "\Q$::Dir\E\/good.json", environment "HOOP_T120_env_\*"\) in \S+nginx.conf:\d+/]



=== TEST 9: a file that does not exist
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/nope.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 qr/cannot open vault file "\Q$::Dir\E\/nope.json" \(2: No such file or directory\)/]



=== TEST 10: invalid JSON is reported without quoting the text around the error
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/broken.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 qr/vault file "\Q$::Dir\E\/broken.json": invalid JSON at byte \d+: parse error: /]



=== TEST 11: a value that is an object
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/nested.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault file \"$::Dir/nested.json\": the value of \"db\" is not a string"]



=== TEST 12: a value that is a number
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/number.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault file \"$::Dir/number.json\": the value of \"port\" is not a string"]



=== TEST 13: a document that is not an object
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/array.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault file \"$::Dir/array.json\": not a flat JSON object of name/secret strings"]



=== TEST 14: an empty file
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/empty.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault file \"$::Dir/empty.json\" is empty"]



=== TEST 15: an empty secret
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/empty-value.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault secret \"blank\" in file \"$::Dir/empty-value.json\" is empty"]



=== TEST 16: a name that could not be referenced
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/bad-name.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault file \"$::Dir/bad-name.json\": secret #1 has an invalid name"]



=== TEST 17: the same name in two files
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/good.json file=$TEST_NGINX_VAULT_DIR/dup.json;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault secret \"db_password\" is defined twice: in file \"$::Dir/good.json\" and in file \"$::Dir/dup.json\""]



=== TEST 18: the same name in a file and in the environment
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/good.json env=HOOP_T120_;
--- config
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 "vault secret \"db_password\" is defined twice: in file \"$::Dir/good.json\" and in environment \"HOOP_T120_*\""]



=== TEST 19: a reference with no hoop_vault before it
--- main_config
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:api_token";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- post_main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/good.json;
--- must_die
--- error_log
[emerg]
vault secret "api_token" is referenced but no "hoop_vault" comes before this line



=== TEST 20: hoop_vault after a resolved reference
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/good.json;
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:api_token";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- post_main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/readonly.json;
--- must_die
--- error_log eval
[qr/\[emerg\]/,
 qr/"hoop_vault" must come before every "vault:" reference, and one is already resolved in \S+nginx.conf:\d+: move "hoop_vault" to the top of nginx.conf/]



=== TEST 21: an environment prefix that matches nothing warns, its names are unknown
--- main_config
hoop_vault env=HOOP_T120_NOTHING_;
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:token";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- must_die
--- error_log
[warn]
vault environment "HOOP_T120_NOTHING_*": no variable in nginx's environment starts with "HOOP_T120_NOTHING_"
[emerg]
vault secret "token" not found (looked in environment "HOOP_T120_NOTHING_*")



=== TEST 22: an unknown parameter
--- main_config
hoop_vault path=/etc/hoop/secrets.json;
--- config
--- must_die
--- error_log
[emerg]
invalid parameter "path=/etc/hoop/secrets.json": expected "file=PATH" or "env=PREFIX"



=== TEST 23: rotating a secret is edit + reload
--- main_config
hoop_vault file=$TEST_NGINX_VAULT_DIR/rotate.json;
--- http_config
# The upstream compares what it received with both values and answers
# with a word, never the value.  Its own error log is kept apart: at debug
# level it would show the request headers it parsed.
map $http_authorization $t120_seen {
    "Bearer $TEST_NGINX_T120_OLD"  old;
    "Bearer $TEST_NGINX_T120_NEW"  new;
    default                        other;
}

server {
    listen 127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
    error_log logs/upstream-error.log warn;

    location / {
        return 200 "seen=$t120_seen\n";
    }
}
--- config
location = /t {
    hoop_credential Authorization "Bearer vault:rotating";
    proxy_pass http://127.0.0.1:$TEST_NGINX_UPSTREAM_PORT;
}
--- init
require HTTP::Tiny;
my $url = "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/t";
my $http = HTTP::Tiny->new(timeout => 3, keep_alive => 0);

# nginx may still be starting (valgrind): wait until it answers
my ($res, $deadline);
$deadline = Time::HiRes::time() + 30;
do {
    Time::HiRes::sleep(0.05) if $res;
    $res = $http->get($url);
} while ($res->{status} == 599 && Time::HiRes::time() < $deadline);

Test::More::is($res->{content}, "seen=old\n",
               "TEST 23: before the edit the upstream gets the old secret");

main::write_mode("$main::Dir/rotate.json", 0600,
                 qq({"rotating": "$main::Secret{new}"}));

open my $fh, '<', server_root() . '/logs/nginx.pid' or die "pid file: $!";
chomp(my $pid = <$fh>);

# the master's workers before the reload
my $workers = sub {
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $sf, '<', $stat or next;
        my $line = <$sf> // next;
        # pid (comm) state ppid ...
        push @pids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+)/ && $2 == $pid;
    }
    return @pids;
};
my @old = $workers->();

# the reload is done when a new worker answers and the old workers are
# gone (until they exit they may still accept a connection); a HUP that
# arrives while nginx is busy with another reconfiguration can be merged
# into it, so signal again if nothing changed for a while
RELOAD: for my $try (1 .. 3) {
    kill 'HUP', $pid or die "kill HUP $pid: $!";

    $deadline = Time::HiRes::time() + 10;
    while (Time::HiRes::time() < $deadline) {
        $res = $http->get($url);
        last RELOAD if $res->{content} eq "seen=new\n"
                       && !grep { -e "/proc/$_/stat"
                                  && `cat /proc/$_/stat` !~ /^\d+ \(.*\) Z/ }
                               @old;
        Time::HiRes::sleep(0.05);
    }
}
--- request
GET /t
--- response_body
seen=new
--- no_error_log
[error]
[emerg]
