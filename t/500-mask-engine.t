# The masking engine: every detector with values it must find and values
# it must leave alone, and every strategy, seen through the JSON filter.
#
# Each block's "--- json" is the upstream document (a static file served
# by the same nginx) and "--- rules" the hoop_mask_json lines of the
# proxying location; the filter's output is compact JSON in the input's
# key order, so the expected body is exact.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex);
use File::Temp qw(tempdir);

our ($Dir, $Key);

BEGIN {
    $Key = 'mask-key-' . join '', map { ('a' .. 'z')[rand 26] } 1 .. 16;
    $Dir = tempdir('hoop-t500-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    open my $fh, '>', "$Dir/vault.json" or die "$Dir/vault.json: $!";
    print {$fh} qq({"mask_key": "$Key"});
    close $fh or die $!;
    chmod 0600, "$Dir/vault.json" or die $!;

    $ENV{TEST_NGINX_MASK_VAULT} = "$Dir/vault.json";
}

use Test::Nginx::Socket 'no_plan';

# what with=hash must give: HMAC-SHA256 under the vaulted key, 16 hex
sub h { substr hmac_sha256_hex($_[0], $Key), 0, 16 }

add_block_preprocessor(sub {
    my $block = shift;

    return unless defined $block->json;

    (my $json = $block->json) =~ s/\s+\z//;

    $block->set_value('main_config',
                      "hoop_vault file=\$TEST_NGINX_MASK_VAULT;\n");
    $block->set_value('user_files', ">>> src.json\n$json\n");
    $block->set_value('config', <<"_EOC_");
location = /src.json {
    default_type application/json;
}

location = /t {
    proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/src.json;
    @{[ $block->rules ]}
}
_EOC_

    $block->set_value('request', "GET /t\n") unless defined $block->request;

    if (!defined $block->error_log && !defined $block->no_error_log) {
        $block->set_value('no_error_log', "[error]\n[alert]\n");
    }
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: email: addresses inside text; a host without a dot, a one-letter TLD and a bare @domain stay
--- json
{"a": "contact john.doe+x@mail.example.co.uk today",
 "b": "user@localhost", "c": "x@y.c", "d": "me@example.com.",
 "e": "@example.com", "f": "<ann_o'neil@sub-domain.example.org>"}
--- rules
hoop_mask_json detect=email;
--- response_body chop
{"a":"contact **** today","b":"user@localhost","c":"x@y.c","d":"****.","e":"@example.com","f":"<ann_o'****>"}



=== TEST 2: cards: Luhn-valid numbers in every layout are masked, Luhn-invalid ones and short ones stay
--- json
{"visa": "4111111111111111", "dashes": "4111-1111-1111-1111",
 "mc": "pay with 5500 0000 0000 0004 now", "amex": "378282246310005",
 "bad": "4111111111111112", "short": "411111111111",
 "year": "4111 1111 1111 1111 2030", "long": "41111111111111111111111",
 "word": "x4111111111111111"}
--- rules
hoop_mask_json detect=credit_card;
--- response_body chop
{"visa":"****","dashes":"****","mc":"pay with **** now","amex":"****","bad":"4111111111111112","short":"411111111111","year":"**** 2030","long":"41111111111111111111111","word":"x4111111111111111"}



=== TEST 3: cards sent as JSON numbers become strings; other numbers keep their exact text
--- json
{"n": 4111111111111111, "id": 4111111111111112, "f": 1.50, "e": -2.5E+10,
 "big": 123456789012345678901234567890}
--- rules
hoop_mask_json detect=credit_card;
--- response_body chop
{"n":"****","id":4111111111111112,"f":1.50,"e":-2.5E+10,"big":123456789012345678901234567890}



=== TEST 4: SSN: valid numbers masked; area 000, 666 and 9xx, group 00, serial 0000 and longer runs stay
--- json
["ssn 123-45-6789.", "078-05-1120", "000-12-3456", "666-12-3456",
 "912-34-5678", "123-00-4567", "123-45-0000", "123-45-67890",
 "123456789"]
--- rules
hoop_mask_json detect=ssn;
--- response_body chop
["ssn ****.","****","000-12-3456","666-12-3456","912-34-5678","123-00-4567","123-45-0000","123-45-67890","123456789"]



=== TEST 5: phone: E.164 and national layouts masked; timestamps, dates, versions and short numbers stay
--- json
["+1 (555) 123-4567", "+447911123456", "call (555) 123-4567 now",
 "555.123.4567", "555-123-4567", "020 7946 0958",
 "1700000000", "2024-01-15", "10.0.19041.1234", "+12345", "12345 67890"]
--- rules
hoop_mask_json detect=phone;
--- response_body chop
["****","****","call **** now","****","****","****","1700000000","2024-01-15","10.0.19041.1234","+12345","12345 67890"]



=== TEST 6: IBAN: mod-97 valid numbers (grouped or not) masked; a wrong check digit stays
--- json
["GB82 WEST 1234 5698 7654 32", "iban DE89370400440532013000.",
 "GB82 WEST 1234 5698 7654 33", "DE89370400440532013001",
 "gb82west12345698765432"]
--- rules
hoop_mask_json detect=iban;
--- response_body chop
["****","iban ****.","GB82 WEST 1234 5698 7654 33","DE89370400440532013001","gb82west12345698765432"]



=== TEST 7: AWS access key ids (AKIA, ASIA + 16); one character short or long, or lower case, stays
--- json
["key AKIAIOSFODNN7EXAMPLE,", "ASIAY34FZKBOKMUTVV7A",
 "AKIAIOSFODNN7EXAMPL", "AKIAIOSFODNN7EXAMPLEX", "akiaiosfodnn7example",
 "AIDAIOSFODNN7EXAMPLE"]
--- rules
hoop_mask_json detect=aws_key;
--- response_body chop
["key ****,","****","AKIAIOSFODNN7EXAMPL","AKIAIOSFODNN7EXAMPLEX","akiaiosfodnn7example","AIDAIOSFODNN7EXAMPLE"]



=== TEST 8: JWTs (three base64url segments, header eyJ...) masked, in a header value too; a lone segment stays
--- json
["Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl-_x",
 "eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.",
 "eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9.x"]
--- rules
hoop_mask_json detect=jwt;
--- response_body chop
["Bearer ****","****","eyJhbGciOiJIUzI1NiJ9","eyJhbGciOiJIUzI1NiJ9.x"]



=== TEST 9: PEM private keys: the whole block, or to the end when the END line is missing; certificates stay
--- json
{"k": "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----\nend",
 "p": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
 "c": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}
--- rules
hoop_mask_json detect=private_key;
--- response_body chop
{"k":"key:\n****\nend","p":"****","c":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}



=== TEST 10: "secrets" is AWS keys, JWTs and private keys; emails are not included
--- json
["AKIAIOSFODNN7EXAMPLE", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.",
 "a@example.com"]
--- rules
hoop_mask_json detect=secrets;
--- response_body chop
["****","****","a@example.com"]



=== TEST 11: a custom regex: every match; overlapping a built-in finding, the union is masked
--- json
["badge EMP-123456 and EMP-12, EMP-654321", "EMP-111111@example.com x"]
--- rules
hoop_mask_json "regex=EMP-\d{6}" detect=email;
--- response_body chop
["badge **** and EMP-12, ****","**** x"]



=== TEST 12: partial: last 4 kept with separators, the email domain kept, short values hidden whole, UTF-8 counted as characters
--- json
{"card": "4111 1111 1111 1111", "email": "jane.doe@example.com",
 "ssn": "123-45-6789", "pin": "1234", "name": "Zo\u00eb \u00c5berg",
 "short": "ab@x.io"}
--- rules
hoop_mask_json key=card,email,ssn,pin,name,short with=partial;
--- response_body chop
{"card":"**** **** **** 1111","email":"j***@example.com","ssn":"***-**-6789","pin":"****","name":"*** *berg","short":"***@x.io"}



=== TEST 13: partial with keep=2, and partial applied to detector findings inside text
--- json
{"code": "123456", "note": "card 4111-1111-1111-1111, mail bob.smith@example.com"}
--- rules
hoop_mask_json key=code with=partial keep=2;
hoop_mask_json detect=credit_card,email with=partial;
--- response_body chop
{"code":"****56","note":"card ****-****-****-1111, mail b***@example.com"}



=== TEST 14: hash: HMAC-SHA256 under the vaulted key, 16 hex digits, the same value gives the same hash
--- json
{"a": {"card": "4111111111111111"}, "b": {"card": "4111111111111111"},
 "c": {"card": "5500000000000004"}, "d": "mail ann@example.com"}
--- rules
hoop_mask_json key=card with=hash secret=vault:mask_key;
hoop_mask_json detect=email with=hash secret=vault:mask_key;
--- response_body eval
my ($v, $m) = (main::h('4111111111111111'), main::h('5500000000000004'));
qq({"a":{"card":"$v"},"b":{"card":"$v"},"c":{"card":"$m"},"d":"mail )
. main::h('ann@example.com') . qq("});



=== TEST 15: null: a masked key's value, and a string holding a finding, become JSON null
--- json
{"ssn": "123-45-6789", "n": 5, "note": "write to a@example.com", "ok": "fine"}
--- rules
hoop_mask_json key=ssn,n with=null;
hoop_mask_json detect=email with=null;
--- response_body chop
{"ssn":null,"n":null,"note":null,"ok":"fine"}



=== TEST 16: redact is the default; booleans and numbers under a masked key become "****", null stays null
--- json
{"secret": {"a": "x", "b": [1, true, null], "c": 2.5}, "open": [1, true]}
--- rules
hoop_mask_json key=secret;
--- response_body chop
{"secret":{"a":"****","b":["****","****",null],"c":"****"},"open":[1,true]}



=== TEST 17: the first rule naming a detector decides its strategy
--- json
["a@example.com 4111111111111111"]
--- rules
hoop_mask_json detect=email with=partial;
hoop_mask_json detect=email,credit_card;
--- response_body chop
["***@example.com ****"]



=== TEST 18: detect=all
--- json
{"text": "a@example.com 4111111111111111 123-45-6789 +14155550100 DE89370400440532013000 AKIAIOSFODNN7EXAMPLE"}
--- rules
hoop_mask_json detect=all;
--- response_body chop
{"text":"**** **** **** **** **** ****"}



=== TEST 19: counts by detector and by rule, for the log: $hoop_mask_count, $hoop_mask_detail
--- http_config
log_format mask "mask count=$hoop_mask_count detail=[$hoop_mask_detail]";
--- json
{"email": "a@example.com", "list": ["b@example.com 4111111111111111", "c@example.com"]}
--- rules
hoop_mask_json key=email name=emails;
hoop_mask_json detect=email,credit_card name=text;
access_log logs/error.log mask;
--- response_body chop
{"email":"****","list":["**** ****","****"]}
--- error_log
mask count=4 detail=[email:2 credit_card:1 key:1 emails:1 text:3]



=== TEST 20: an unknown detector fails the configuration, naming it
--- config
location = /t {
    hoop_mask_json detect=email,creditcard;
}
--- must_die
--- error_log
unknown detector "creditcard"



=== TEST 21: with=hash without a secret fails the configuration
--- config
location = /t {
    hoop_mask_json key=card with=hash;
}
--- must_die
--- error_log
with=hash needs secret=vault:NAME



=== TEST 22: a secret from a missing vault entry fails the configuration
--- main_config
hoop_vault file=$TEST_NGINX_MASK_VAULT;
--- config
location = /t {
    hoop_mask_json key=card with=hash secret=vault:no_such_key;
}
--- must_die
--- error_log
no_such_key



=== TEST 23: a regex that does not compile fails the configuration
--- config
location = /t {
    hoop_mask_json "regex=EMP-(\d";
}
--- must_die
--- error_log
pcre2_compile() failed



=== TEST 24: a rule with nothing to mask is refused
--- config
location = /t {
    hoop_mask_json with=partial;
}
--- must_die
--- error_log
needs key=, column=, detect= or regex=



=== TEST 25: findings at every offset of a long value (the 16-byte scan): before, across and after block boundaries, after letters and digits
A card is found only at a word boundary: "x4111..." and "94111..." are
not cards; ids and dates between the findings stay.
--- json
{"long": "order 1029 shipped 2024-03-15 to Berlin;4111111111111111,ok AKIAIOSFODNN7EXAMPLE id 77 +14155550101 x4111111111111111 94111111111111111 end (555) 123-4567.GB82WEST12345698765432 eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
 "edge": "4111111111111111", "tail": "abcdefghijklmnopqrstuvwxyz 123-45-6789"}
--- rules
hoop_mask_json detect=credit_card,ssn,phone,iban,aws_key,jwt;
--- response_body chop
{"long":"order 1029 shipped 2024-03-15 to Berlin;****,ok **** id 77 **** x4111111111111111 94111111111111111 end ****.**** ****","edge":"****","tail":"abcdefghijklmnopqrstuvwxyz ****"}
