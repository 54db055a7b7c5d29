package HoopToken;

# Test keys and tokens for the ngx_hoop suites, on Debian's Crypt::JWT and
# CryptX.  Keys are generated when a suite runs (never committed): RSA 2048,
# EC P-256/384/521 and Ed25519, written as PEM files plus a JWKS file that
# hoop_oidc jwks=FILE reads.
#
#   use lib 't/lib';
#   use HoopToken;
#
#   our $kit;
#   BEGIN {
#       $kit = HoopToken->standard;        # keys below, in a temp dir
#       $ENV{TEST_NGINX_JWKS} = $kit->write_jwks('jwks.json');
#   }
#
#   --- more_headers eval
#   "Authorization: Bearer " . $::kit->token(key => 'ec256')
#
# The standard key set (the name is also the "kid"):
#
#   rsa1    RSA 2048, no "alg" in its JWK (any RS* / PS* fits)
#   rsa2    RSA 2048, "alg": "RS256"
#   ec256   P-256,    "alg": "ES256"
#   ec384   P-384,    "alg": "ES384"
#   ec521   P-521,    "alg": "ES512"
#   ed      Ed25519,  "alg": "EdDSA"
#
# token(): a compact JWS signed by Crypt::JWT.
#
#   key     => NAME          signing key (default rsa1)
#   alg     => ALG           default: RS256 for RSA, ES256/384/512 by
#                            curve, EdDSA for Ed25519; "none" makes an
#                            unsigned token
#   claims  => {...}         merged over the defaults (iss, aud, sub, iat,
#                            exp); a value of undef removes the claim
#   header  => {...}         merged over the default header (typ JWT,
#                            kid NAME); undef removes an entry ("alg" is
#                            always what was signed with: see raw_token)
#   ttl     => SECONDS       exp = now + ttl (default 3600)
#
# HoopToken->open(dir => DIR) loads the keys an earlier kit wrote there.
#
# raw_token(key, alg, header_json, payload_json): signs exactly the given
# bytes (for malformed JSON, duplicate members, odd "alg" headers, ...).
#
# confusion_token(key => NAME, ...): HS256 whose HMAC secret is the PEM of
# NAME's public key (the classic RSA/HMAC algorithm confusion attack).
#
# tamper_payload($token, {claim => value}) re-encodes the payload with the
# changes but keeps the original signature; tamper_signature($token) flips
# one bit of the signature.  b64u()/unb64u() are base64url without padding.

use strict;
use warnings;

use Carp qw(croak);
use Crypt::JWT qw(encode_jwt);
use Crypt::Misc qw(encode_b64u decode_b64u);
use Crypt::Mac::HMAC qw(hmac);
use Crypt::PK::ECC;
use Crypt::PK::Ed25519;
use Crypt::PK::RSA;
use File::Temp qw(tempdir);
use JSON::PP ();

our $VERSION = '0.1';

my %CURVE = (
    'P-256' => { name => 'secp256r1', alg => 'ES256', hash => 'SHA256' },
    'P-384' => { name => 'secp384r1', alg => 'ES384', hash => 'SHA384' },
    'P-521' => { name => 'secp521r1', alg => 'ES512', hash => 'SHA512' },
);

my @STANDARD = (
    [ rsa1  => type => 'RSA' ],
    [ rsa2  => type => 'RSA', alg => 'RS256' ],
    [ ec256 => type => 'EC', curve => 'P-256', alg => 'ES256' ],
    [ ec384 => type => 'EC', curve => 'P-384', alg => 'ES384' ],
    [ ec521 => type => 'EC', curve => 'P-521', alg => 'ES512' ],
    [ ed    => type => 'OKP', alg => 'EdDSA' ],
);

my $JSON = JSON::PP->new->canonical(1);


# new(dir => DIR, issuer => ISS, audience => AUD): an empty kit.  Without
# dir, a temporary directory removed when the test process exits.
sub new {
    my ($class, %args) = @_;

    my $dir = $args{dir} // tempdir('hoop-keys-XXXXXX', TMPDIR => 1,
                                    CLEANUP => 1);
    mkdir $dir unless -d $dir;

    # nginx workers may run as another user: they must read the JWKS
    chmod 0755, $dir;

    return bless {
        dir      => $dir,
        issuer   => $args{issuer} // 'https://idp.hoop.test',
        audience => $args{audience} // 'hoop',
        keys     => {},
        order    => [],
    }, $class;
}

# A kit with the standard key set (see above).
sub standard {
    my ($class, %args) = @_;

    my $kit = $class->new(%args);
    $kit->add_key(@$_) for @STANDARD;

    return $kit;
}

# open(dir => DIR, ...): the keys a kit wrote into DIR earlier (possibly
# in another process: a JWKS server, a demo script).
sub open {
    my ($class, %args) = @_;

    my $dir = $args{dir} // croak "HoopToken: open needs dir";
    my $self = $class->new(%args);

    CORE::open my $fh, '<', "$dir/keys.json"
        or croak "HoopToken: $dir/keys.json: $!";
    my $meta = JSON::PP::decode_json(do { local $/; <$fh> });
    close $fh;

    for my $m (@$meta) {
        my $class = { RSA => 'Crypt::PK::RSA', EC => 'Crypt::PK::ECC',
                      OKP => 'Crypt::PK::Ed25519' }->{ $m->{type} };
        my $pk = $class->new("$dir/$m->{name}.key");

        $self->{keys}{ $m->{name} } = { %$m, pk => $pk };
        push @{ $self->{order} }, $m->{name};
    }

    return $self;
}

sub dir { $_[0]{dir} }
sub issuer { $_[0]{issuer} }
sub audience { $_[0]{audience} }
sub names { @{ $_[0]{order} } }

# add_key(NAME, type => RSA|EC|OKP, bits => 2048, curve => P-256,
#         alg => ALG, use => 'sig', kid => NAME)
# Generates the key and writes NAME.key (private) and NAME.pub (public PEM).
sub add_key {
    my ($self, $name, %opt) = @_;

    my $type = $opt{type} // 'RSA';
    my $pk;

    if ($type eq 'RSA') {
        $pk = Crypt::PK::RSA->new;
        $pk->generate_key(($opt{bits} // 2048) / 8, 65537);

    } elsif ($type eq 'EC') {
        my $c = $CURVE{ $opt{curve} // 'P-256' }
            or croak "HoopToken: unknown curve $opt{curve}";
        $pk = Crypt::PK::ECC->new;
        $pk->generate_key($c->{name});

    } elsif ($type eq 'OKP') {
        $pk = Crypt::PK::Ed25519->new;
        $pk->generate_key;

    } else {
        croak "HoopToken: unknown key type $type";
    }

    my $key = {
        name  => $name,
        type  => $type,
        curve => $opt{curve} // ($type eq 'EC' ? 'P-256' : undef),
        pk    => $pk,
        kid   => exists $opt{kid} ? $opt{kid} : $name,
        alg   => $opt{alg},
        use   => exists $opt{use} ? $opt{use} : 'sig',
    };

    $self->{keys}{$name} = $key;
    push @{ $self->{order} }, $name unless grep { $_ eq $name }
                                              @{ $self->{order} };

    _write("$self->{dir}/$name.key", $pk->export_key_pem('private'), 0600);
    _write("$self->{dir}/$name.pub", $pk->export_key_pem('public'), 0644);
    $self->_write_meta;

    return $key;
}

sub key {
    my ($self, $name) = @_;
    return $self->{keys}{$name} // croak "HoopToken: no key named $name";
}

sub pem_public {
    my ($self, $name) = @_;
    return $self->key($name)->{pk}->export_key_pem('public');
}

sub pem_private {
    my ($self, $name) = @_;
    return $self->key($name)->{pk}->export_key_pem('private');
}

# The default "alg" for a key.
sub default_alg {
    my ($self, $name) = @_;
    my $k = $self->key($name);

    return $k->{alg} if defined $k->{alg};
    return 'RS256' if $k->{type} eq 'RSA';
    return 'EdDSA' if $k->{type} eq 'OKP';
    return $CURVE{ $k->{curve} }{alg};
}

# jwk(NAME, %override): NAME's public JWK as a hash; override entries
# replace or (undef) remove members: jwk('rsa1', kid => undef).
sub jwk {
    my ($self, $name, %over) = @_;
    my $k = $self->key($name);

    my $jwk = $k->{pk}->export_key_jwk('public', 1);
    $jwk->{kid} = $k->{kid} if defined $k->{kid};
    $jwk->{alg} = $k->{alg} if defined $k->{alg};
    $jwk->{use} = $k->{use} if defined $k->{use};

    _merge($jwk, \%over);

    return $jwk;
}

# jwks(ITEM...): a JWKS document; items are key names or JWK hashes.
# Without items: every key of the kit.
sub jwks {
    my ($self, @items) = @_;

    @items = $self->names unless @items;

    my @keys = map { ref $_ ? $_ : $self->jwk($_) } @items;

    return $JSON->encode({ keys => \@keys });
}

# write_jwks(FILE, ITEM...): writes the JWKS (atomically: a reader never
# sees half a file); FILE relative to the kit's directory unless absolute.
# Returns the absolute file name.
sub write_jwks {
    my ($self, $file, @items) = @_;

    $file = "$self->{dir}/$file" unless $file =~ m{^/};
    _write($file, $self->jwks(@items), 0644);

    return $file;
}

# Default claims: a token the standard test provider accepts.
sub claims {
    my ($self, %opt) = @_;
    my $now = time;

    return {
        iss => $self->{issuer},
        aud => $self->{audience},
        sub => 'alice',
        iat => $now,
        exp => $now + ($opt{ttl} // 3600),
    };
}

sub token {
    my ($self, %opt) = @_;

    my $name = $opt{key} // 'rsa1';
    my $k = $self->key($name);
    my $alg = $opt{alg} // $self->default_alg($name);

    my $claims = $self->claims(ttl => $opt{ttl});
    _merge($claims, $opt{claims} // {});

    my $header = { typ => 'JWT' };
    $header->{kid} = $k->{kid} if defined $k->{kid};
    _merge($header, $opt{header} // {});
    delete $header->{alg};

    return encode_jwt(
        payload       => $JSON->encode($claims),
        alg           => $alg,
        key           => $alg eq 'none' ? undef : $k->{pk},
        extra_headers => $header,
        allow_none    => 1,
    );
}

# raw_token(key => NAME, alg => ALG, header_json => TEXT,
#           payload_json => TEXT [, sign_alg => ALG]): header and payload
# bytes as given, signed with NAME using sign_alg (default alg).  With no
# header_json, one is made from alg and the key's kid.
sub raw_token {
    my ($self, %opt) = @_;

    my $name = $opt{key} // 'rsa1';
    my $k = $self->key($name);
    my $alg = $opt{alg} // $self->default_alg($name);
    my $sign_alg = $opt{sign_alg} // $alg;

    my $hdr = $opt{header_json}
              // $JSON->encode({ alg => $alg, typ => 'JWT',
                                 (defined $k->{kid} ? (kid => $k->{kid})
                                                    : ()) });
    my $payload = $opt{payload_json}
                  // $JSON->encode($self->claims(ttl => $opt{ttl}));

    my $input = encode_b64u($hdr) . '.' . encode_b64u($payload);

    return "$input." . encode_b64u(_sign($k, $sign_alg, $input));
}

sub confusion_token {
    my ($self, %opt) = @_;

    my $name = $opt{key} // 'rsa1';
    my $k = $self->key($name);

    my $claims = $self->claims(ttl => $opt{ttl});
    _merge($claims, $opt{claims} // {});

    my $header = { typ => 'JWT' };
    $header->{kid} = $k->{kid} if defined $k->{kid};
    _merge($header, $opt{header} // {});
    delete $header->{alg};

    return encode_jwt(
        payload       => $JSON->encode($claims),
        alg           => 'HS256',
        key           => $self->pem_public($name),
        extra_headers => $header,
    );
}

sub tamper_payload {
    my ($token, $changes) = @_;

    my ($h, $p, $s) = split /\./, $token, -1;
    my $claims = JSON::PP::decode_json(decode_b64u($p));
    _merge($claims, $changes // { sub => 'mallory' });

    return join '.', $h, encode_b64u($JSON->encode($claims)), $s;
}

sub tamper_signature {
    my ($token) = @_;

    my ($h, $p, $s) = split /\./, $token, -1;
    my $sig = decode_b64u($s);
    substr($sig, length($sig) / 2, 1) ^= "\x01";

    return join '.', $h, $p, encode_b64u($sig);
}

sub b64u { encode_b64u($_[0]) }
sub unb64u { decode_b64u($_[0]) }


sub _write_meta {
    my ($self) = @_;

    my @meta = map {
        my $k = $self->{keys}{$_};
        +{ map { ($_ => $k->{$_}) } qw(name type curve kid alg use) }
    } @{ $self->{order} };

    _write("$self->{dir}/keys.json", $JSON->encode(\@meta), 0644);
}

sub _sign {
    my ($k, $alg, $input) = @_;

    if ($alg =~ /^HS(256|384|512)$/) {
        return hmac("SHA$1", $k->{pk}->export_key_pem('public'), $input);
    }
    if ($alg =~ /^RS(256|384|512)$/) {
        return $k->{pk}->sign_message($input, "SHA$1", 'v1.5');
    }
    if ($alg =~ /^PS(256|384|512)$/) {
        return $k->{pk}->sign_message($input, "SHA$1", 'pss', $1 / 8);
    }
    if ($alg =~ /^ES(256|384|512)$/) {
        return $k->{pk}->sign_message_rfc7518($input, "SHA$1");
    }
    if ($alg eq 'EdDSA') {
        return $k->{pk}->sign_message($input);
    }
    return '' if $alg eq 'none';

    croak "HoopToken: cannot sign with $alg";
}

sub _merge {
    my ($h, $over) = @_;

    while (my ($k, $v) = each %$over) {
        if (defined $v) {
            $h->{$k} = $v;
        } else {
            delete $h->{$k};
        }
    }
}

sub _write {
    my ($file, $data, $mode) = @_;

    my $tmp = "$file.tmp$$";
    CORE::open my $fh, '>', $tmp or croak "HoopToken: $tmp: $!";
    print {$fh} $data;
    close $fh or croak "HoopToken: $tmp: $!";
    chmod $mode, $tmp;
    rename $tmp, $file or croak "HoopToken: rename $file: $!";
}

1;
