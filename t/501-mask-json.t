# hoop_mask_json on proxied responses: key paths through objects and
# arrays, headers, content types, streaming through chunked and
# Content-Length upstreams with bounded buffers, compressed upstreams,
# per-request rule switches, and malformed JSON cutting the response.
#
# The upstream is a location of the same nginx serving static files
# ("--- user_files"); SSI on a location makes it answer chunked.

use strict;
use warnings;

our ($Big, $BigMasked, $Broken);

BEGIN {
    my (@in, @out);

    # about 400 KB: many upstream reads, many output buffers
    for my $i (1 .. 3000) {
        my $pad = 'p' x ($i % 97);
        push @in, qq(  {"id": $i, "email": "user$i\@example.com", )
                  . qq("pad": "$pad", "n": $i.50}\n);
        push @out, qq({"id":$i,"email":"u***\@example.com",)
                   . qq("pad":"$pad","n":$i.50});
    }

    $Big = "{\"items\": [\n" . join(",", @in) . "]}\n";
    $BigMasked = '{"items":[' . join(',', @out) . ']}';

    # a long valid prefix, then garbage and a clear-text address
    $Broken = "{\"items\": [\n" . join(",", @in)
              . qq(, {"email": "leak\@example.com" "x": 1}]}\n);
}

use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->error_log && !defined $block->no_error_log
        && !defined $block->must_die)
    {
        $block->set_value('no_error_log', "[error]\n[alert]\n");
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a key path matches at any depth, through arrays of objects, and only as a whole suffix
--- user_files
>>> src.json
{"email": "top@example.com",
 "user": {"email": "u@example.com", "profile": {"email": "deep@example.com"}},
 "team": {"user": [{"email": "a@example.com"}, {"email": "b@example.com"}]},
 "superuser": {"email": "s@example.com"}}
--- config
location = /src.json { default_type application/json; }
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src.json;
    hoop_mask_json key=user.email;
}
--- request
GET /t
--- response_body chop
{"email":"top@example.com","user":{"email":"****","profile":{"email":"deep@example.com"}},"team":{"user":[{"email":"****"},{"email":"****"}]},"superuser":{"email":"s@example.com"}}



=== TEST 2: a plain key anywhere; an array under a masked key has every element masked
--- user_files
>>> src.json
{"a": [[{"email": "xavier@example.com"}]], "email": ["paul@example.com", "quinn@example.com"],
 "emails": "r@example.com"}
--- config
location = /src.json { default_type application/json; }
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src.json;
    hoop_mask_json column=email with=partial;
}
--- request
GET /t
--- response_body chop
{"a":[[{"email":"x***@example.com"}]],"email":["p***@example.com","q***@example.com"],"emails":"r@example.com"}



=== TEST 3: Content-Length and ETag go, the response is chunked, the content type stays
--- user_files
>>> src.json
{"email": "a@example.com"}
--- config
location = /src.json { default_type application/json; }
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src.json;
    hoop_mask_json key=email;
}
--- request
GET /t
--- response_headers
! Content-Length
! ETag
Transfer-Encoding: chunked
Content-Type: application/json
--- response_body chop
{"email":"****"}



=== TEST 4: application/problem+json and a charset parameter are JSON too
--- config
location = /p {
    default_type application/problem+json;
    return 200 '{"detail": "no user a@example.com"}';
}
location = /c {
    default_type "application/json; charset=utf-8";
    return 200 '{"detail": "no user b@example.com"}';
}
location /t/ {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
    hoop_mask_json detect=email;
}
--- request eval
["GET /t/p", "GET /t/c"]
--- response_body eval
['{"detail":"no user ****"}', '{"detail":"no user ****"}']



=== TEST 5: error responses with a JSON body are masked as well
--- config
location = /e {
    default_type application/json;
    return 404 '{"error": "no account for c@example.com"}';
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/e;
    hoop_mask_json detect=email;
}
--- request
GET /t
--- error_code: 404
--- response_body chop
{"error":"no account for ****"}



=== TEST 6: other content types pass untouched by default
--- config
location = /txt {
    default_type text/plain;
    return 200 'mail a@example.com';
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/txt;
    hoop_mask_json detect=email;
}
--- request
GET /t
--- response_headers
Content-Length: 18
--- response_body chop
mail a@example.com



=== TEST 7: hoop_mask_json_other refuse: other content types become 502
--- config
location = /txt {
    default_type text/plain;
    return 200 'mail a@example.com';
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/txt;
    hoop_mask_json detect=email;
    hoop_mask_json_other refuse;
}
--- request
GET /t
--- error_code: 502
--- response_body_unlike
a@example\.com
--- error_log
hoop_mask_json: refused a response that is not JSON, content type "text/plain"



=== TEST 8: a compressed upstream response is refused, with advice
--- user_files
>>> src.json
{"email": "a@example.com", "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
--- config
location = /src.json {
    default_type application/json;
    gzip on;
    gzip_types application/json;
    gzip_min_length 1;
    gzip_http_version 1.0;
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src.json;
    hoop_mask_json key=email;
}
--- request
GET /t
--- more_headers
Accept-Encoding: gzip
--- error_code: 502
--- response_body_like chop
502 Bad Gateway
--- error_log
hoop_mask_json: refused a response that is compressed (send "Accept-Encoding" empty to the upstream or gunzip it)



=== TEST 9: the same upstream without Accept-Encoding: masked
--- user_files
>>> src.json
{"email": "a@example.com", "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
--- config
location = /src.json {
    default_type application/json;
    gzip on;
    gzip_types application/json;
    gzip_min_length 1;
    gzip_http_version 1.0;
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src.json;
    proxy_set_header Accept-Encoding "";
    hoop_mask_json key=email;
}
--- request
GET /t
--- more_headers
Accept-Encoding: gzip
--- response_body_like chop
^\{"email":"\*\*\*\*","pad":"x+"\}$



=== TEST 10: a large body through a Content-Length upstream, buffered proxying
--- user_files eval
">>> big.json\n$::Big"
--- config
location = /big.json { default_type application/json; }
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/big.json;
    hoop_mask_json key=email with=partial;
}
--- request
GET /t
--- response_body eval
$::BigMasked



=== TEST 11: the same body from a chunked upstream, unbuffered, through two 1k output buffers
--- user_files eval
">>> big.json\n$::Big"
--- config
location = /big.json {
    default_type application/json;
    ssi on;
    ssi_types application/json;
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/big.json;
    proxy_http_version 1.1;
    proxy_buffering off;
    proxy_buffer_size 1k;
    hoop_mask_json key=email with=partial;
    hoop_mask_json_buffers 2 1k;
}
--- request
GET /t
--- response_body eval
$::BigMasked



=== TEST 12: malformed JSON in one piece: nothing of the document leaves, the response is cut
--- config
location = /bad {
    default_type application/json;
    return 200 '{"a": "ok", "b": [1, 2 "secret@example.com"]}';
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/bad;
    hoop_mask_json key=a;
}
--- request
GET /t
--- http09
--- response_body_like eval
qr/\A(?!.*secret)(?!.*\r\n0\r\n\r\n\z).*\z/s
--- error_log
hoop_mask_json: malformed JSON (parse error: after array element, I expect ',' or ']')



=== TEST 13: malformed JSON after a long valid prefix: the prefix leaves masked, the rest never, no last chunk
--- user_files eval
">>> broken.json\n$::Broken"
--- config
location = /broken.json { default_type application/json; }
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/broken.json;
    proxy_buffering off;
    hoop_mask_json key=email with=partial;
}
--- request
GET /t
--- http09
--- response_body_like eval
qr/\A(?!.*leak)(?!.*user\d+\@)(?!.*\r\n0\r\n\r\n\z)HTTP\/1\.1 200 .*"email":"u\*\*\*\@example\.com"/s
--- error_log
hoop_mask_json: malformed JSON



=== TEST 14: a truncated document (premature end) is cut too
--- config
location = /bad {
    default_type application/json;
    return 200 '{"a": [1, 2';
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/bad;
    hoop_mask_json key=a;
}
--- request
GET /t
--- http09
--- response_body_like eval
qr/\A(?!.*\r\n0\r\n\r\n\z).*\z/s
--- error_log
malformed JSON (parse error: premature EOF)



=== TEST 15: an empty JSON body is not an error
--- config
location = /empty {
    default_type application/json;
    return 200 '';
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/empty;
    hoop_mask_json key=a;
}
--- request
GET /t
--- response_body chop



=== TEST 16: nesting deeper than hoop_mask_json_max_depth cuts the response
--- config
location = /deep {
    default_type application/json;
    return 200 '{"a": {"b": {"c": {"d": 1}}}}';
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/deep;
    hoop_mask_json key=x;
    hoop_mask_json_max_depth 3;
}
--- request
GET /t
--- http09
--- response_body_like eval
qr/\A(?!.*\r\n0\r\n\r\n\z).*\z/s
--- error_log
JSON nested deeper than "hoop_mask_json_max_depth"



=== TEST 17: a string longer than hoop_mask_json_max_token cuts the response
--- user_files eval
">>> long.json\n{\"a\": \"" . ('x' x 20000) . "\"}\n"
--- config
location = /long.json { default_type application/json; }
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/long.json;
    hoop_mask_json key=a;
    hoop_mask_json_max_token 8k;
}
--- request
GET /t
--- http09
--- response_body_like eval
qr/\A(?!.*xxxx)(?!.*\r\n0\r\n\r\n\z).*\z/s
--- error_log
a JSON token is larger than "hoop_mask_json_max_token"



=== TEST 18: unless=$variable turns a rule off for a request; the body then passes as is
--- http_config
map $http_x_unmask $unmask {
    default  0;
    yes      1;
}
--- config
location = /src {
    default_type application/json;
    return 200 '{"email": "a@example.com", "note": "b@example.com"}';
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src;
    hoop_mask_json key=email unless=$unmask;
    hoop_mask_json detect=email with=partial;
}
location = /all {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src;
    hoop_mask_json key=email unless=$unmask;
}
--- request eval
["GET /t", "GET /t", "GET /all"]
--- more_headers eval
["", "X-Unmask: yes", "X-Unmask: yes"]
--- response_body eval
['{"email":"****","note":"***@example.com"}',
 '{"email":"***@example.com","note":"***@example.com"}',
 '{"email": "a@example.com", "note": "b@example.com"}']



=== TEST 19: rules are inherited; "hoop_mask_json off" stops them in a location
--- config
hoop_mask_json key=email;

location = /src {
    default_type application/json;
    hoop_mask_json off;
    return 200 '{"email": "a@example.com"}';
}
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src;
}
location = /raw {
    hoop_mask_json off;
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src;
}
--- request eval
["GET /t", "GET /raw"]
--- response_body eval
['{"email":"****"}', '{"email": "a@example.com"}']



=== TEST 20: HEAD: no body to parse, Content-Length removed
--- user_files
>>> src.json
{"email": "a@example.com"}
--- config
location = /src.json { default_type application/json; }
location = /t {
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src.json;
    hoop_mask_json key=email;
}
--- request
HEAD /t
--- response_headers
! Content-Length
--- response_body chop
