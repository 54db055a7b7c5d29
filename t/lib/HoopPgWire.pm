package HoopPgWire;

# Postgres wire protocol (3.0) exchanges written as transcripts inside
# Test::Nginx blocks.  Pure Perl; it touches the test runner only through
# its documented extension points (add_block_preprocessor,
# add_response_body_check, server_port_for_client, raw_request, http09), so
# the same .t files run under ngx_hoop's runner and upstream Test::Nginx.
# The POD at the end describes the notation.

use strict;
use warnings;

use IO::Socket::INET ();
use Text::Diff ();

our $VERSION = '0.01';

# Codes of the untyped startup-phase packets.
use constant {
    PROTOCOL_3_0   => 196608,
    CANCEL_CODE    => 80877102,
    SSL_CODE       => 80877103,
    GSSENC_CODE    => 80877104,
};

# Type OIDs we name in RowDescription / ParameterDescription / Parse.
my %TYPE_NAME = (
    16 => 'bool', 17 => 'bytea', 18 => 'char', 19 => 'name', 20 => 'int8',
    21 => 'int2', 23 => 'int4', 24 => 'regproc', 25 => 'text', 26 => 'oid',
    114 => 'json', 142 => 'xml', 700 => 'float4', 701 => 'float8',
    705 => 'unknown', 1000 => 'bool[]', 1005 => 'int2[]', 1007 => 'int4[]',
    1009 => 'text[]', 1016 => 'int8[]', 1042 => 'bpchar', 1043 => 'varchar',
    1082 => 'date', 1083 => 'time', 1114 => 'timestamp', 1184 => 'timestamptz',
    1186 => 'interval', 1266 => 'timetz', 1700 => 'numeric', 2205 => 'regclass',
    2249 => 'record', 2275 => 'cstring', 2278 => 'void', 2950 => 'uuid',
    3802 => 'jsonb',
);
my %TYPE_OID = reverse %TYPE_NAME;

# Error and notice fields in the order transcripts show them.  V (the
# unlocalized severity) and F/L/R (server source file, line, routine) are
# left out: they repeat S or change with every PostgreSQL build.
my @SHOWN_FIELDS = qw(S C M D H P p q W s t c d n);

# ---------------------------------------------------------------------------
# Tokens: the notation shared by pg_send, pg_recv and decoded transcripts.
#
#   bare          a word without spaces or quotes: SELECT, 42, int4
#   "quoted"      with \" \\ \n \r \t \0 \xHH escapes
#   NULL          an SQL NULL (the string "NULL" is written quoted)
#   key=value     a named argument; the value may be quoted or a regex
#   *  /regex/  ...   in pg_recv only: any value, a match, any remaining values

sub tokenize {
    my ($line) = @_;
    my @tokens;
    while (1) {
        $line =~ /\G\s+/gc;
        last if (pos($line) // 0) >= length $line;

        my $key = $line =~ /\G([A-Za-z_][A-Za-z0-9_.\-]*)=/gc ? $1 : undef;
        my $token;
        if ($line =~ /\G"((?:[^"\\]|\\.)*)"/gc) {
            $token = { kind => 'lit', value => unescape($1), quoted => 1 };
        } elsif ($line =~ m{\G/((?:[^/\\]|\\.)*)/(?=\s|\z)}gc) {
            my $re = $1;
            $token = { kind => 're', value => $re, re => qr/$re/s };
        } elsif ($line =~ /\G(\S*)/gc) {
            my $bare = $1;
            $token = $bare eq 'NULL' ? { kind => 'null' }
                   : $bare eq '*'    ? { kind => 'any' }
                   : $bare eq '...'  ? { kind => 'rest' }
                   :                   { kind => 'lit', value => $bare };
        }
        $token->{key} = $key;
        push @tokens, $token;
    }
    return @tokens;
}

my %ESCAPES = (n => "\n", r => "\r", t => "\t", 0 => "\0");

sub unescape {
    my ($text) = @_;
    $text =~ s{\\(x([0-9A-Fa-f]{2})|.)}{
        defined $2 ? chr hex $2 : ($ESCAPES{$1} // $1)
    }ges;
    return $text;
}

# A value as it appears in a transcript: bare when that reads back the same.
sub format_value {
    my ($value) = @_;
    return 'NULL' if !defined $value;
    return $value
        if $value =~ /\A[A-Za-z0-9_.:+\-]+\z/ && $value ne 'NULL' && $value ne '...';
    (my $quoted = $value) =~ s/(["\\])/\\$1/g;
    $quoted =~ s/\n/\\n/g;
    $quoted =~ s/\r/\\r/g;
    $quoted =~ s/\t/\\t/g;
    $quoted =~ s/([\x00-\x1f\x7f])/sprintf '\\x%02x', ord $1/ge;
    # UTF-8 text stays readable; other high bytes (binary data) are escaped.
    my $copy = $quoted;
    $quoted =~ s/([\x80-\xff])/sprintf '\\x%02x', ord $1/ge if !utf8::decode($copy);
    return qq{"$quoted"};
}

# Transcript text -> list of {text, head token, args}; comments and blank
# lines are dropped.
sub parse_lines {
    my @lines = map { ref $_ eq 'ARRAY' ? @$_ : split /\n/ } @_;
    my @parsed;
    for my $line (@lines) {
        next if $line =~ /^\s*(?:#.*)?$/;
        my ($head, @args) = tokenize($line);
        push @parsed, { text => $line =~ s/^\s+|\s+$//gr, head => $head, args => \@args };
    }
    return @parsed;
}

# ---------------------------------------------------------------------------
# Encoding client messages.

sub int16 { return pack 'n', $_[0] & 0xffff }
sub int32 { return pack 'N', $_[0] & 0xffffffff }
sub cstr  { return ($_[0] // '') . "\0" }

# A typed message: type byte, int32 length (itself included), payload.
# message('', $payload) frames an untyped startup-phase packet.
sub message {
    my ($type, $payload) = @_;
    return $type . int32(4 + length $payload) . $payload;
}

sub type_oid {
    my ($type) = @_;
    return $type if $type =~ /^\d+$/;
    return $TYPE_OID{$type} // die "HoopPgWire: unknown type name '$type'\n";
}

# The value of a positional token; key=value tokens count as text.
sub arg_value {
    my ($token) = @_;
    return undef if !defined $token || $token->{kind} eq 'null';
    my $value = $token->{value} // '';
    return defined $token->{key} ? "$token->{key}=$value" : $value;
}

sub positional { return map { arg_value($_) } @_ }

sub encode_startup {
    my (@tokens) = @_;
    my $version = PROTOCOL_3_0;
    my $params = '';
    for my $token (@tokens) {
        die "HoopPgWire: StartupMessage takes key=value pairs\n" if !defined $token->{key};
        if ($token->{key} eq 'protocol') {
            my ($major, $minor) = split /\./, $token->{value};
            $version = ($major << 16) | ($minor // 0);
            next;
        }
        $params .= cstr($token->{key}) . cstr($token->{value});
    }
    return message('', int32($version) . $params . "\0");
}

sub encode_bind {
    # formats=... and results=... are options; any other token is a value.
    my (%named, @args);
    for my $token (@_) {
        if (defined $token->{key} && $token->{key} =~ /^(?:formats|results)$/) {
            $named{ $token->{key} } = $token->{value};
        } else {
            push @args, arg_value($token);
        }
    }
    my ($portal, $statement, @params) = @args;
    my @formats = split /,/, $named{formats} // '';
    my @results = split /,/, $named{results} // '';
    my $payload = cstr($portal) . cstr($statement)
        . int16(scalar @formats) . join('', map { int16($_) } @formats)
        . int16(scalar @params);
    for my $param (@params) {
        $payload .= defined $param ? int32(length $param) . $param : int32(-1);
    }
    $payload .= int16(scalar @results) . join('', map { int16($_) } @results);
    return message('B', $payload);
}

sub encode_raw {
    # Bare tokens are hex, quoted ones literal bytes: raw "Q" 0000000d ...
    my $bytes = '';
    for my $token (@_) {
        my $text = $token->{value} // '';
        if (!$token->{quoted}) {
            $text =~ /^(?:[0-9A-Fa-f]{2})*$/
                or die "HoopPgWire: raw wants hex byte pairs or \"quoted\" bytes, not '$text'\n";
            $text = pack 'H*', $text;
        }
        $bytes .= $text;
    }
    return $bytes;
}

my %ENCODERS = (
    SSLRequest     => sub { message('', int32(SSL_CODE)) },
    GSSENCRequest  => sub { message('', int32(GSSENC_CODE)) },
    CancelRequest  => sub {
        my ($pid, $key) = positional(@_);
        message('', int32(CANCEL_CODE) . int32($pid) . int32($key));
    },
    StartupMessage => \&encode_startup,
    PasswordMessage => sub { message('p', cstr(arg_value($_[0]))) },
    SASLInitialResponse => sub {
        my ($mechanism, $data) = positional(@_);
        message('p', cstr($mechanism)
                     . (defined $data ? int32(length $data) . $data : int32(-1)));
    },
    SASLResponse   => sub { message('p', arg_value($_[0]) // '') },
    Query          => sub { message('Q', cstr(arg_value($_[0]))) },
    Parse          => sub {
        my ($name, $query, @types) = positional(@_);
        message('P', cstr($name) . cstr($query) . int16(scalar @types)
                     . join('', map { int32(type_oid($_)) } @types));
    },
    Bind           => \&encode_bind,
    Describe       => sub {
        my ($what, $name) = positional(@_);
        message('D', ($what // 'S') . cstr($name));
    },
    Execute        => sub {
        my ($portal, $max_rows) = positional(@_);
        message('E', cstr($portal) . int32($max_rows // 0));
    },
    Close          => sub {
        my ($what, $name) = positional(@_);
        message('C', ($what // 'S') . cstr($name));
    },
    Sync           => sub { message('S', '') },
    Flush          => sub { message('H', '') },
    CopyData       => sub { message('d', arg_value($_[0]) // '') },
    CopyDone       => sub { message('c', '') },
    CopyFail       => sub { message('f', cstr(arg_value($_[0]))) },
    Terminate      => sub { message('X', '') },
    raw            => \&encode_raw,
);

# encode("Query \"SELECT 1\"\nTerminate") -> the bytes a client would send.
sub encode {
    my $bytes = '';
    for my $line (split_source_lines(@_)) {
        my ($head, @args) = tokenize($line);
        my $name = $head->{value} // '';
        my $encoder = $ENCODERS{$name}
            or die "HoopPgWire: unknown client message '$name' in: $line\n";
        $bytes .= $encoder->(@args);
    }
    return $bytes;
}

sub split_source_lines {
    return grep { !/^\s*(?:#.*)?$/ } map { ref $_ eq 'ARRAY' ? @$_ : split /\n/ } @_;
}

# ---------------------------------------------------------------------------
# Decoding server bytes.

sub cstring_at {
    my ($payload, $pos) = @_;
    my $end = index $$payload, "\0", $$pos;
    die "unterminated string\n" if $end < 0;
    my $text = substr $$payload, $$pos, $end - $$pos;
    $$pos = $end + 1;
    return $text;
}

sub take {
    my ($payload, $pos, $len) = @_;
    die "short message\n" if $$pos + $len > length $$payload;
    my $bytes = substr $$payload, $$pos, $len;
    $$pos += $len;
    return $bytes;
}

sub take_int16  { return unpack 'n', take(@_[0, 1], 2) }
sub take_int32  { return unpack 'N', take(@_[0, 1], 4) }
sub take_sint32 { return unpack 'l>', take(@_[0, 1], 4) }

# Bytes a message carries past its last field mean a framing bug somewhere.
sub expect_end {
    my ($payload, $pos) = @_;
    die "trailing bytes\n" if $$pos != length $$payload;
}

sub type_name { return $TYPE_NAME{ $_[0] } // $_[0] }

sub decode_fields {
    my ($payload) = @_;
    my ($pos, %fields) = (0);
    while ((my $code = take(\$payload, \$pos, 1)) ne "\0") {
        $fields{$code} = cstring_at(\$payload, \$pos);
    }
    expect_end(\$payload, \$pos);
    delete @fields{qw(V F L R)};
    my %rank = map { $SHOWN_FIELDS[$_] => $_ } 0 .. $#SHOWN_FIELDS;
    my @codes = sort { ($rank{$a} // 99) <=> ($rank{$b} // 99) || $a cmp $b } keys %fields;
    return map { "$_=" . format_value($fields{$_}) } @codes;
}

my %AUTH_NAMES = (
    0 => 'AuthenticationOk', 2 => 'AuthenticationKerberosV5',
    3 => 'AuthenticationCleartextPassword', 5 => 'AuthenticationMD5Password',
    6 => 'AuthenticationSCMCredential', 7 => 'AuthenticationGSS',
    8 => 'AuthenticationGSSContinue', 9 => 'AuthenticationSSPI',
    10 => 'AuthenticationSASL', 11 => 'AuthenticationSASLContinue',
    12 => 'AuthenticationSASLFinal',
);

sub decode_auth {
    my ($payload) = @_;
    my $pos = 0;
    my $code = take_int32(\$payload, \$pos);
    my $rest = substr $payload, $pos;
    my $name = $AUTH_NAMES{$code} // return ('Authentication', $code, format_value($rest));
    return ($name, unpack 'H*', $rest) if $code == 5;       # the salt
    return ($name, map { format_value($_) } grep { length } split /\0/, $rest)
        if $code == 10;
    return ($name, format_value($rest)) if length $rest;
    return ($name);
}

sub decode_row_description {
    my ($payload) = @_;
    my $pos = 0;
    my @columns;
    for (1 .. take_int16(\$payload, \$pos)) {
        my $name = cstring_at(\$payload, \$pos);
        my (undef, undef, $type, undef, undef, $format) =
            unpack 'N n N s> l> n', take(\$payload, \$pos, 18);
        push @columns, format_value("$name:" . type_name($type) . ($format ? ':binary' : ''));
    }
    expect_end(\$payload, \$pos);
    return ('RowDescription', @columns);
}

sub decode_data_row {
    my ($payload) = @_;
    my $pos = 0;
    my @values;
    for (1 .. take_int16(\$payload, \$pos)) {
        my $len = take_sint32(\$payload, \$pos);
        push @values, format_value($len < 0 ? undef : take(\$payload, \$pos, $len));
    }
    expect_end(\$payload, \$pos);
    return ('DataRow', @values);
}

sub decode_copy_response {
    my ($name, $payload) = @_;
    my $pos = 0;
    my $format = unpack 'C', take(\$payload, \$pos, 1);
    my @columns = map { take_int16(\$payload, \$pos) } 1 .. take_int16(\$payload, \$pos);
    my @line = ($name, $format ? 'binary' : 'text', scalar @columns);
    # The protocol says column formats follow the overall one; show it if not.
    push @line, 'formats=' . join(',', @columns) if grep { $_ != $format } @columns;
    return @line;
}

my %DECODERS = (
    R => \&decode_auth,
    S => sub {
        my ($payload, $pos) = ($_[0], 0);
        my @pair = map { format_value(cstring_at(\$payload, \$pos)) } 1 .. 2;
        expect_end(\$payload, \$pos);
        return ('ParameterStatus', @pair);
    },
    K => sub {
        my ($payload, $pos) = ($_[0], 0);
        return ('BackendKeyData', take_int32(\$payload, \$pos), take_int32(\$payload, \$pos));
    },
    Z => sub { return ('ReadyForQuery', format_value($_[0])) },
    T => \&decode_row_description,
    D => \&decode_data_row,
    C => sub {
        my ($payload, $pos) = ($_[0], 0);
        my $tag = cstring_at(\$payload, \$pos);
        expect_end(\$payload, \$pos);
        return ('CommandComplete', format_value($tag));
    },
    E => sub { return ('ErrorResponse', decode_fields($_[0])) },
    N => sub { return ('NoticeResponse', decode_fields($_[0])) },
    1 => sub { return ('ParseComplete') },
    2 => sub { return ('BindComplete') },
    3 => sub { return ('CloseComplete') },
    n => sub { return ('NoData') },
    s => sub { return ('PortalSuspended') },
    I => sub { return ('EmptyQueryResponse') },
    t => sub {
        my ($payload, $pos) = ($_[0], 0);
        my $count = take_int16(\$payload, \$pos);
        return ('ParameterDescription',
                map { type_name(take_int32(\$payload, \$pos)) } 1 .. $count);
    },
    G => sub { return decode_copy_response('CopyInResponse', $_[0]) },
    H => sub { return decode_copy_response('CopyOutResponse', $_[0]) },
    W => sub { return decode_copy_response('CopyBothResponse', $_[0]) },
    d => sub { return ('CopyData', format_value($_[0])) },
    c => sub { return ('CopyDone') },
    A => sub {
        my ($payload, $pos) = ($_[0], 0);
        my $pid = take_int32(\$payload, \$pos);
        return ('NotificationResponse', $pid, format_value(cstring_at(\$payload, \$pos)),
                format_value(cstring_at(\$payload, \$pos)));
    },
    v => sub {
        my ($payload, $pos) = ($_[0], 0);
        my $minor = take_int32(\$payload, \$pos);
        my @options = map { format_value(cstring_at(\$payload, \$pos)) }
                      1 .. take_int32(\$payload, \$pos);
        return ('NegotiateProtocolVersion', "3.$minor", @options);
    },
    V => sub {
        my ($payload, $pos) = ($_[0], 0);
        my $len = take_sint32(\$payload, \$pos);
        return ('FunctionCallResponse',
                format_value($len < 0 ? undef : take(\$payload, \$pos, $len)));
    },
);

# decode($bytes, answers => ['SSL', ...]) -> transcript lines.  "answers"
# lists the SSLRequest/GSSENCRequest packets the client sent first: the
# server answers each with a single byte before any framed message.
sub decode {
    my ($bytes, %opts) = @_;
    my @lines;
    my $pos = 0;

    for my $kind (@{ $opts{answers} || [] }) {
        last if $pos >= length $bytes;
        my $answer = substr $bytes, $pos, 1;
        last if $answer !~ /^[SNG]$/;    # e.g. an ErrorResponse instead
        push @lines, "${kind}Response $answer";
        $pos++;
        if ($answer ne 'N') {
            # What follows is TLS or GSSAPI, not protocol messages.
            push @lines, 'Encrypted ' . (length($bytes) - $pos) . ' bytes'
                if $pos < length $bytes;
            return @lines;
        }
    }

    while ($pos < length $bytes) {
        my $left = length($bytes) - $pos;
        if ($left < 5) {
            push @lines, 'Truncated header ' . format_value(substr $bytes, $pos);
            last;
        }
        my ($type, $len) = unpack 'a N', substr $bytes, $pos, 5;
        if ($len < 4) {
            push @lines, 'Malformed ' . format_value($type) . " length=$len";
            last;
        }
        if ($left < 1 + $len) {
            push @lines, 'Truncated ' . format_value($type) . " length=$len got="
                         . ($left - 1);
            last;
        }
        my $payload = substr $bytes, $pos + 5, $len - 4;
        $pos += 1 + $len;

        my $decoder = $DECODERS{$type};
        if (!$decoder) {
            push @lines, 'Unknown ' . format_value($type) . ' ' . format_value($payload);
            next;
        }
        my @parts = eval { $decoder->($payload) };
        push @lines, $@ ? 'Malformed ' . format_value($type) . ' ' . format_value($payload)
                        : join ' ', @parts;
    }
    return @lines;
}

# The single-byte answers to expect, from the packets a client sends first.
sub expected_answers {
    my ($request) = @_;
    my @answers;
    my $pos = 0;
    while (defined $request && length($request) >= $pos + 8) {
        my ($len, $code) = unpack 'N N', substr $request, $pos, 8;
        last if $len != 8;
        if ($code == SSL_CODE) { push @answers, 'SSL' }
        elsif ($code == GSSENC_CODE) { push @answers, 'GSSENC' }
        else { last }
        $pos += 8;
    }
    return @answers;
}

# ---------------------------------------------------------------------------
# Matching a decoded transcript against a pg_recv expectation.

my @DEFAULT_SKIPPED = qw(ParameterStatus BackendKeyData);

sub token_matches {
    my ($want, $got) = @_;
    my $kind = $want->{kind};
    return 1 if $kind eq 'any';
    return !defined $got || $got->{kind} eq 'null' if $kind eq 'null';
    return 0 if !defined $got || $got->{kind} eq 'null';
    return $got->{value} =~ $want->{re} if $kind eq 're';
    return $got->{value} eq $want->{value};
}

sub partition_args {
    my ($args) = @_;
    my (%named, @positional);
    for my $token (@$args) {
        if (defined $token->{key}) { $named{ $token->{key} } = $token }
        else { push @positional, $token }
    }
    return (\%named, \@positional);
}

# Positional values must all match (a "..." accepts the rest); key=value
# ones are a subset: fields the expectation does not name are not checked.
sub line_matches {
    my ($want, $got) = @_;
    return 0 if ($want->{head}{value} // '') ne ($got->{head}{value} // '');

    my ($want_named, $want_positional) = partition_args($want->{args});
    my ($got_named, $got_positional) = partition_args($got->{args});

    for my $key (keys %$want_named) {
        return 0 if !exists $got_named->{$key}
                    || !token_matches($want_named->{$key}, $got_named->{$key});
    }
    for my $i (0 .. $#$want_positional) {
        my $token = $want_positional->[$i];
        return 1 if $token->{kind} eq 'rest';
        return 0 if $i > $#$got_positional || !token_matches($token, $got_positional->[$i]);
    }
    return @$want_positional == @$got_positional;
}

sub is_skip_line { return ($_[0]{head}{kind} // '') eq 'rest' }

sub skip_line_accepts {
    my ($skip, $got) = @_;
    my @names = map { $_->{kind} eq 'any' ? '*' : $_->{value} } @{ $skip->{args} };
    @names = @DEFAULT_SKIPPED if !@names;
    my $name = $got->{head}{value} // '';
    return grep { $_ eq '*' || $_ eq $name } @names;
}

# match_transcript(\@want_lines, \@got_lines) -> (1) or (0, explanation).
sub match_transcript {
    my ($want_lines, $got_lines) = @_;
    my @want = parse_lines(@$want_lines);
    my @got = parse_lines(@$got_lines);
    my %memo;
    my ($deepest_want, $deepest_got) = (0, 0);

    my $match;
    $match = sub {
        my ($w, $g) = @_;
        return $memo{"$w,$g"} //= do {
            if ($w == @want) {
                $g == @got;
            } elsif (is_skip_line($want[$w])) {
                my $ok = 0;
                for (my $k = $g; ; $k++) {
                    if ($match->($w + 1, $k)) { $ok = 1; last }
                    last if $k >= @got || !skip_line_accepts($want[$w], $got[$k]);
                }
                $ok;
            } else {
                if ($w > $deepest_want || ($w == $deepest_want && $g > $deepest_got)) {
                    ($deepest_want, $deepest_got) = ($w, $g);
                }
                $g < @got && line_matches($want[$w], $got[$g]) && $match->($w + 1, $g + 1);
            }
        };
    };

    my $ok = $match->(0, 0);
    undef $match;    # break the closure's reference cycle
    return (1) if $ok;

    if ($deepest_want >= @want) {
        return (0, 'unexpected messages after the end of the expected transcript, from: '
                   . ($got[$deepest_got] ? $got[$deepest_got]{text} : '(end)'));
    }
    my $got_text = $deepest_got < @got ? $got[$deepest_got]{text} : '(no more messages)';
    return (0, 'expected line ' . ($deepest_want + 1) . " \"$want[$deepest_want]{text}\""
               . ' does not match message ' . ($deepest_got + 1) . " \"$got_text\"");
}

# ---------------------------------------------------------------------------
# Test::Nginx glue.

sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Proto => 'tcp', Listen => 1)
        or die "HoopPgWire: cannot find a free port: $!\n";
    return $sock->sockport;
}

sub expand_env {
    my ($text) = @_;
    $text =~ s{\$(TEST_NGINX_[A-Z0-9_]+)}{
        $ENV{$1} // die "HoopPgWire: environment variable $1 is not set\n"
    }ge;
    return $text;
}

sub is_pg_block {
    my ($block) = @_;
    return defined $block->pg_send || defined $block->pg_recv || defined $block->pg_port;
}

# Debian ships the stream module as a dynamic module: load it for blocks
# with a stream {} block unless TEST_NGINX_LOAD_MODULES already does.
sub load_stream_module {
    my ($block) = @_;
    my $main = $block->main_config;
    return if !defined $main || $main !~ /\bstream\s*\{/;
    return if ($ENV{TEST_NGINX_LOAD_MODULES} // '') =~ /ngx_stream_module/;
    return if $main =~ /ngx_stream_module/;
    my $so = $ENV{TEST_NGINX_STREAM_MODULE} // '/usr/lib/nginx/modules/ngx_stream_module.so';
    $block->set_value(main_config => "load_module $so;\n$main");
}

sub install {
    my $runner = 'Test::Nginx::Socket';
    my $client_port = $runner->can('server_port_for_client')
        or die "HoopPgWire: load Test::Nginx::Socket first\n";
    my $default_client_port = $client_port->();

    $ENV{TEST_NGINX_PG_GW_PORT} //= free_port();

    $runner->can('add_block_preprocessor')->(sub {
        my ($block) = @_;
        if (!is_pg_block($block)) {
            $client_port->($default_client_port);
            return;
        }
        $client_port->(expand_env($block->pg_port // '$TEST_NGINX_PG_GW_PORT'));
        if (defined $block->pg_send && !defined $block->raw_request) {
            set_raw_request($block, encode($block->pg_send));
        }
        $block->set_value(http09 => 1);
        # Without a config section upstream keeps the previous nginx running.
        $block->set_value(config => '') if !defined $block->config;
        load_stream_module($block);
    });

    $runner->can('add_response_body_check')->(\&check_transcript);
}

# A server answers SSLRequest/GSSENCRequest with one byte and must find
# nothing else buffered (PostgreSQL rejects "unencrypted data after SSL
# request"), so those packets go out alone, a moment apart: upstream's
# raw_request packet array and raw_request_middle_delay do exactly that.
sub set_raw_request {
    my ($block, $bytes) = @_;
    my $leading = 8 * expected_answers($bytes);
    if (!$leading) {
        $block->set_value(raw_request => $bytes);
        return;
    }
    my @packets = unpack '(a8)*', substr $bytes, 0, $leading;
    push @packets, substr $bytes, $leading if length $bytes > $leading;
    $block->set_value(raw_request => \@packets);
    $block->set_value(raw_request_middle_delay => 0.1)
        if !defined $block->raw_request_middle_delay;
}

sub check_transcript {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $want = $block->pg_recv;
    return if !defined $want;
    my $name = $block->name;

    SKIP: {
        Test::More::skip("$name - pg_recv - tests skipped due to $dry_run", 1) if $dry_run;

        my $request = $block->raw_request;
        $request = join '', @$request if ref $request eq 'ARRAY';
        my @got = decode($body // '', answers => [expected_answers($request)]);
        my %ignored = map { $_ => 1 } split ' ', $block->pg_ignore // '';
        @got = grep { !$ignored{ (split / /)[0] } } @got;

        my @want_lines = map { $_->{text} } parse_lines(ref $want ? @$want : $want);
        my ($ok, $why) = match_transcript(\@want_lines, \@got);
        Test::More::ok($ok, "$name - pg_recv transcript matches (req $repeated_req_idx)");
        if (!$ok) {
            my $want_text = join '', map { "$_\n" } @want_lines;
            my $got_text = join '', map { "$_\n" } @got;
            Test::More::diag("$why\n"
                . Text::Diff::diff(\$want_text, \$got_text,
                                   { STYLE => 'Unified', FILENAME_A => 'pg_recv',
                                     FILENAME_B => 'received' }));
        }
    }
}

1;

__END__

=head1 NAME

HoopPgWire - Postgres protocol transcripts for Test::Nginx blocks

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';
    use HoopPgWire;

    HoopPgWire::install();
    run_tests();

    __DATA__

    === TEST 1: a query through the stream proxy
    --- main_config
    stream {
        server {
            listen 127.0.0.1:$TEST_NGINX_PG_GW_PORT;
            proxy_pass 127.0.0.1:$TEST_NGINX_PG_PORT;
        }
    }
    --- pg_send
    StartupMessage user=app_trust database=hoop_test
    Query "SELECT 1 AS one"
    Terminate
    --- pg_recv
    AuthenticationOk
    ...
    ReadyForQuery I
    RowDescription one:int4
    DataRow 1
    CommandComplete "SELECT 1"
    ReadyForQuery I

=head1 HOW IT RUNS

C<install()> adds a block preprocessor and a response body check.  A block
with a C<pg_send>, C<pg_recv> or C<pg_port> section is a Postgres block:

=over

=item *

C<pg_send> is encoded into C<raw_request> (unless the block has its own
C<raw_request>, e.g. C<--- raw_request eval> with C<HoopPgWire::encode(...)>
plus hostile bytes), and C<http09> is set so the response is the raw bytes.
Leading C<SSLRequest>/C<GSSENCRequest> packets are sent as packets of their
own, C<raw_request_middle_delay> (default 0.1 s) apart, because a server
must find nothing buffered behind them.

=item *

The client connects to C<pg_port> (a number or C<$TEST_NGINX_...>) or, by
default, C<$TEST_NGINX_PG_GW_PORT>.  C<install()> sets that variable to a
free port when it is unset, so the block's C<stream> server can listen on
C<$TEST_NGINX_PG_GW_PORT>.  (C<$TEST_NGINX_RAND_PORT_N> cannot be used: it
is chosen after preprocessors run.)  Other blocks talk HTTP as before.

=item *

A block without C<config> gets an empty one (upstream would otherwise reuse
the previous block's nginx), and C<load_module> for Debian's stream module is
added when C<main_config> has a C<stream {}> block and
C<TEST_NGINX_LOAD_MODULES> does not load it.

=item *

The body check decodes the bytes received into transcript lines and
compares them with C<pg_recv>; on a mismatch the test fails with the first
differing line and a unified diff.  C<pg_ignore> lists message names to drop
from what was received before comparing (e.g. C<NoticeResponse>).

=back

The client writes all its bytes at once and reads until the server closes the
connection, so a C<pg_send> ends with C<Terminate> (or with something that
makes the server close).  Servers read pipelined messages in order, so
startup, password and queries can all be sent together.  A server that never
closes shows up as the runner's "client socket timed out" failure.

=head1 NOTATION

One message per line; blank lines and C<#> comments are ignored.  Values
are bare words, C<"quoted strings"> (escapes C<\" \\ \n \r \t \0 \xHH>),
C<NULL>, or C<key=value>.  Write values containing spaces, C<=>, C</>, C<*>
or quotes in quotes.

=head2 Client messages (pg_send, encode)

    SSLRequest
    GSSENCRequest
    CancelRequest <pid> <key>
    StartupMessage [protocol=3.0] user=<u> database=<d> <name>=<value> ...
    PasswordMessage "<password>"
    SASLInitialResponse <mechanism> ["<data>"]
    SASLResponse "<data>"
    Query "<sql>"
    Parse <name|""> "<sql>" [<type name or oid> ...]
    Bind <portal|""> <statement|""> [formats=0,1] [results=1] <value|NULL> ...
    Describe S|P <name|"">
    Execute <portal|""> [<max rows>]
    Close S|P <name|"">
    Sync
    Flush
    CopyData "<bytes>"
    CopyDone
    CopyFail "<message>"
    Terminate
    raw <hex> "<literal bytes>" ...        # anything at all, e.g. raw 00000004

Perl helpers for C<raw_request eval>: C<encode($text)>, C<message($type,
$payload)> (C<''> type for startup-phase packets), C<int16>, C<int32>,
C<cstr>.

=head2 Server messages (pg_recv, decode)

    SSLResponse N | GSSENCResponse N      # the one-byte answers ("S"/"G"
                                          # is followed by "Encrypted N bytes")
    AuthenticationOk, AuthenticationCleartextPassword,
    AuthenticationMD5Password <salt hex>, AuthenticationSASL <mechanisms>,
    AuthenticationSASLContinue "<data>", AuthenticationSASLFinal "<data>",
    AuthenticationKerberosV5, AuthenticationSCMCredential, AuthenticationGSS,
    AuthenticationGSSContinue "<data>", AuthenticationSSPI,
    Authentication <code> "<data>"         # any other code
    ParameterStatus <name> <value>
    BackendKeyData <pid> <key>
    ReadyForQuery I|T|E
    RowDescription <name>:<type>[:binary] ...
    DataRow <value|NULL> ...
    CommandComplete "<tag>"
    ErrorResponse S=<severity> C=<sqlstate> M="<message>" [D= H= P= ...]
    NoticeResponse S=... C=... M=...
    ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended,
    EmptyQueryResponse, CopyDone
    ParameterDescription <type> ...
    CopyInResponse | CopyOutResponse | CopyBothResponse text|binary <ncols>
    CopyData "<bytes>"
    NotificationResponse <pid> <channel> "<payload>"
    NegotiateProtocolVersion 3.<minor> <option> ...
    FunctionCallResponse <value|NULL>
    Truncated <type> length=<n> got=<m>    # the connection ended mid-message
    Truncated header "<bytes>"
    Unknown <type> "<payload>"
    Malformed <type> "<payload>"

Error and notice fields appear as C<letter=value> (all but C<V>, C<F>,
C<L>, C<R>).

=head2 Matching (pg_recv only)

=over

=item C<...> on a line of its own

skips any run (possibly empty) of C<ParameterStatus> and C<BackendKeyData>
messages; C<... NoticeResponse ParameterStatus> skips runs of the listed
messages; C<... *> skips anything.

=item C<*>

matches any single value; C</regex/> matches a value by regex; C<...> as the
last value accepts any remaining values.

=item C<key=value>

in an expected line is checked only for that key: C<ErrorResponse C=42P01
M=/does not exist/> ignores the other fields.

=back

=cut
