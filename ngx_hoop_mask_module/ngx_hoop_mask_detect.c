
/*
 * ngx_hoop_mask_module: the built-in detectors.
 *
 * One pass over the text; at each position that can start a finding the
 * detectors are tried in a fixed order (the most specific first) and a
 * match moves the scan past it, so findings never overlap.  A finding
 * must start and end at a word boundary: digits inside a longer word or
 * number are not a card or a phone number.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_mask.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif


#define ngx_hoop_digit(c)   ((c) >= '0' && (c) <= '9')
#define ngx_hoop_upper(c)   ((c) >= 'A' && (c) <= 'Z')
#define ngx_hoop_lower(c)   ((c) >= 'a' && (c) <= 'z')
#define ngx_hoop_alpha(c)   (ngx_hoop_upper(c) || ngx_hoop_lower(c))
#define ngx_hoop_alnum(c)   (ngx_hoop_alpha(c) || ngx_hoop_digit(c))
#define ngx_hoop_b64url(c)  (ngx_hoop_alnum(c) || (c) == '-' || (c) == '_')
#define ngx_hoop_local(c)                                                     \
    (ngx_hoop_alnum(c) || (c) == '.' || (c) == '_' || (c) == '%'              \
     || (c) == '+' || (c) == '-')

#define ngx_hoop_on(d)      (detectors & ((ngx_uint_t) 1 << (d)))


/* letters and digits: the characters a finding never starts after */
static const u_char  ngx_hoop_mask_alnum[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,       /* 0-9 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,       /* A-O */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,       /* P-Z */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,       /* a-o */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,       /* p-z */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};


#define E  (1 << NGX_HOOP_MASK_EMAIL)
#define C  (1 << NGX_HOOP_MASK_CARD)
#define S  (1 << NGX_HOOP_MASK_SSN)
#define P  (1 << NGX_HOOP_MASK_PHONE)
#define I  (1 << NGX_HOOP_MASK_IBAN)
#define A  (1 << NGX_HOOP_MASK_AWS_KEY)
#define J  (1 << NGX_HOOP_MASK_JWT)
#define K  (1 << NGX_HOOP_MASK_PRIVATE_KEY)

/* the detectors whose findings can start with a character */
static const ngx_uint_t  ngx_hoop_mask_starts[256] = {
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, E, 0, 0,
    P, 0, 0, E|P, 0, E|K, 0, 0,
    C|E|P|S, C|E|P|S, C|E|P|S, C|E|P|S, C|E|P|S, C|E|P|S, C|E|P|S, C|E|P|S,
    C|E|P|S, C|E|P|S, 0, 0, 0, 0, 0, 0,
    0, A|E|I, E|I, E|I, E|I, E|I, E|I, E|I,
    E|I, E|I, E|I, E|I, E|I, E|I, E|I, E|I,
    E|I, E|I, E|I, E|I, E|I, E|I, E|I, E|I,
    E|I, E|I, E|I, 0, 0, 0, 0, E,
    0, E, E, E, E, E|J, E, E,
    E, E, E, E, E, E, E, E,
    E, E, E, E, E, E, E, E,
    E, E, E, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0
};

#undef E
#undef C
#undef S
#undef P
#undef I
#undef A
#undef J
#undef K


/*
 * The next position from i where a finding other than an email or a PEM
 * block may start: after a character that is not a letter or digit (or at
 * 0), on a character some enabled detector starts with.  len if none.
 */

static size_t
ngx_hoop_mask_next(u_char *p, size_t len, size_t i, ngx_uint_t detectors)
{
#if defined(__SSE2__)
    int        bits;
    __m128i    x, y, prev, digit, letter, start, t;
    ngx_uint_t digits, upper, phone, jwt;

    digits = detectors & (((ngx_uint_t) 1 << NGX_HOOP_MASK_CARD)
                          | ((ngx_uint_t) 1 << NGX_HOOP_MASK_SSN)
                          | ((ngx_uint_t) 1 << NGX_HOOP_MASK_PHONE));
    upper = detectors & (((ngx_uint_t) 1 << NGX_HOOP_MASK_IBAN)
                         | ((ngx_uint_t) 1 << NGX_HOOP_MASK_AWS_KEY));
    phone = detectors & ((ngx_uint_t) 1 << NGX_HOOP_MASK_PHONE);
    jwt = detectors & ((ngx_uint_t) 1 << NGX_HOOP_MASK_JWT);

    if (i == 0) {
        if (len && (ngx_hoop_mask_starts[p[0]] & detectors)) {
            return 0;
        }

        i = 1;
    }

    while (i < len && len - i >= 16) {
        x = _mm_loadu_si128((__m128i *) (p + i));
        prev = _mm_loadu_si128((__m128i *) (p + i - 1));

        /* letters and digits among the previous characters */
        digit = _mm_and_si128(_mm_cmpgt_epi8(prev, _mm_set1_epi8('0' - 1)),
                              _mm_cmpgt_epi8(_mm_set1_epi8('9' + 1), prev));
        y = _mm_or_si128(prev, _mm_set1_epi8(0x20));
        letter = _mm_and_si128(_mm_cmpgt_epi8(y, _mm_set1_epi8('a' - 1)),
                               _mm_cmpgt_epi8(_mm_set1_epi8('z' + 1), y));

        /* characters that start something */
        start = _mm_setzero_si128();

        if (digits) {
            start = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                  _mm_cmpgt_epi8(_mm_set1_epi8('9' + 1), x));
        }

        if (upper) {
            t = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('A' - 1)),
                              _mm_cmpgt_epi8(_mm_set1_epi8('Z' + 1), x));
            start = _mm_or_si128(start, t);
        }

        if (phone) {
            start = _mm_or_si128(start,
                        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('+')),
                                     _mm_cmpeq_epi8(x, _mm_set1_epi8('('))));
        }

        if (jwt) {
            start = _mm_or_si128(start, _mm_cmpeq_epi8(x, _mm_set1_epi8('e')));
        }

        bits = _mm_movemask_epi8(_mm_andnot_si128(_mm_or_si128(digit, letter),
                                                  start));
        if (bits) {
            return i + __builtin_ctz(bits);
        }

        i += 16;
    }
#endif

    for ( /* void */ ; i < len; i++) {
        if ((i == 0 || !ngx_hoop_mask_alnum[p[i - 1]])
            && (ngx_hoop_mask_starts[p[i]] & detectors))
        {
            return i;
        }
    }

    return len;
}


static size_t ngx_hoop_mask_email(u_char *p, size_t len, size_t i);
static size_t ngx_hoop_mask_card(u_char *p, size_t len, size_t i);
static size_t ngx_hoop_mask_ssn(u_char *p, size_t len, size_t i);
static size_t ngx_hoop_mask_phone(u_char *p, size_t len, size_t i);
static size_t ngx_hoop_mask_iban(u_char *p, size_t len, size_t i);
static size_t ngx_hoop_mask_aws(u_char *p, size_t len, size_t i);
static size_t ngx_hoop_mask_jwt(u_char *p, size_t len, size_t i);
static size_t ngx_hoop_mask_pem(u_char *p, size_t len, size_t i);
static u_char *ngx_hoop_mask_find(u_char *p, u_char *last, char *s,
    size_t n);


ngx_int_t
ngx_hoop_mask_scan(u_char *p, size_t len, ngx_uint_t detectors,
    ngx_array_t *findings)
{
    u_char                    c, prev, *at;
    size_t                    i, end, next_at;
    ngx_uint_t                d, pem, starts, fast;
    ngx_hoop_mask_finding_t  *f;

    /*
     * Prefilters: a PEM block is the only finding that needs no word
     * boundary, and it starts with "-----BEGIN "; an email needs an '@'
     * at most 65 bytes after its start.  Without them, nothing starts
     * inside a word, and words are skipped in a tight loop.
     */
    pem = ngx_hoop_on(NGX_HOOP_MASK_PRIVATE_KEY)
          && memmem(p, len, "-----BEGIN ", 11) != NULL;

    if (!pem) {
        detectors &= ~((ngx_uint_t) 1 << NGX_HOOP_MASK_PRIVATE_KEY);
    }

    next_at = 0;

    /*
     * Without an '@' (no email) and without a PEM block, only word starts
     * with a digit, '+', '(', an upper-case letter or 'e' can begin a
     * finding: those are found 16 bytes at a time.
     */
    fast = !pem
           && (!ngx_hoop_on(NGX_HOOP_MASK_EMAIL)
               || memchr(p, '@', len) == NULL);

    if (fast) {
        detectors &= ~((ngx_uint_t) 1 << NGX_HOOP_MASK_EMAIL);
    }

    i = 0;

    while (i < len) {
        if (fast) {
            i = ngx_hoop_mask_next(p, len, i, detectors);

            if (i == len) {
                break;
            }

        } else if (i && !pem && ngx_hoop_mask_alnum[p[i - 1]]) {
            /* inside a word: skip it and the character ending it */
            while (i < len && ngx_hoop_mask_alnum[p[i]]) {
                i++;
            }

            i++;
            continue;
        }

        c = p[i];

        /* which detectors a finding starting with c could be */
        starts = ngx_hoop_mask_starts[c] & detectors;

        if (starts & ((ngx_uint_t) 1 << NGX_HOOP_MASK_EMAIL)) {
            if (next_at < i) {
                at = memchr(p + i, '@', len - i);
                next_at = at ? (size_t) (at - p) : len;
            }

            if (next_at == len || next_at - i > 65) {
                starts &= ~((ngx_uint_t) 1 << NGX_HOOP_MASK_EMAIL);
            }
        }

        if (starts == 0) {
            i++;
            continue;
        }

        prev = i ? p[i - 1] : ' ';
        end = 0;
        d = 0;

        if (c == '-' && pem) {
            end = ngx_hoop_mask_pem(p, len, i);
            d = NGX_HOOP_MASK_PRIVATE_KEY;

        } else if (c == 'e' && !ngx_hoop_b64url(prev)
                   && ngx_hoop_on(NGX_HOOP_MASK_JWT))
        {
            end = ngx_hoop_mask_jwt(p, len, i);
            d = NGX_HOOP_MASK_JWT;

        } else if (c == 'A' && !ngx_hoop_alnum(prev)
                   && ngx_hoop_on(NGX_HOOP_MASK_AWS_KEY))
        {
            end = ngx_hoop_mask_aws(p, len, i);
            d = NGX_HOOP_MASK_AWS_KEY;
        }

        if (end == 0 && ngx_hoop_upper(c) && !ngx_hoop_alnum(prev)
            && ngx_hoop_on(NGX_HOOP_MASK_IBAN))
        {
            end = ngx_hoop_mask_iban(p, len, i);
            d = NGX_HOOP_MASK_IBAN;
        }

        if (end == 0 && (starts & ((ngx_uint_t) 1 << NGX_HOOP_MASK_EMAIL))
            && !ngx_hoop_local(prev))
        {
            end = ngx_hoop_mask_email(p, len, i);
            d = NGX_HOOP_MASK_EMAIL;
        }

        if (end == 0 && ngx_hoop_digit(c) && !ngx_hoop_alnum(prev)) {

            if (ngx_hoop_on(NGX_HOOP_MASK_CARD)) {
                end = ngx_hoop_mask_card(p, len, i);
                d = NGX_HOOP_MASK_CARD;
            }

            if (end == 0 && ngx_hoop_on(NGX_HOOP_MASK_SSN)) {
                end = ngx_hoop_mask_ssn(p, len, i);
                d = NGX_HOOP_MASK_SSN;
            }
        }

        if (end == 0 && (ngx_hoop_digit(c) || c == '+' || c == '(')
            && !ngx_hoop_alnum(prev) && prev != '+'
            && ngx_hoop_on(NGX_HOOP_MASK_PHONE))
        {
            end = ngx_hoop_mask_phone(p, len, i);
            d = NGX_HOOP_MASK_PHONE;
        }

        if (end == 0) {
            i++;
            continue;
        }

        f = ngx_array_push(findings);
        if (f == NULL) {
            return NGX_ERROR;
        }

        f->start = i;
        f->end = end;
        f->detector = d;
        f->rule = NULL;

        i = end;
    }

    return NGX_OK;
}


/* local@domain.tld: the domain has at least two labels, the last alphabetic */

static size_t
ngx_hoop_mask_email(u_char *p, size_t len, size_t i)
{
    size_t      j, k, label, end;
    ngx_uint_t  labels, alpha;

    for (j = i; j < len && ngx_hoop_local(p[j]); j++) {
        if (j - i > 64) {
            return 0;
        }
    }

    if (j == i || j + 1 >= len || p[j] != '@') {
        return 0;
    }

    k = j + 1;
    labels = 0;
    end = 0;

    for ( ;; ) {
        label = k;
        alpha = 1;

        while (k < len && (ngx_hoop_alnum(p[k]) || p[k] == '-')) {
            if (!ngx_hoop_alpha(p[k])) {
                alpha = 0;
            }
            k++;
        }

        if (k == label || k - label > 63) {
            break;
        }

        labels++;

        if (labels >= 2 && alpha && k - label >= 2) {
            end = k;
        }

        if (k + 1 < len && p[k] == '.' && ngx_hoop_alnum(p[k + 1])) {
            k++;
            continue;
        }

        break;
    }

    return end;
}


/*
 * 13 to 19 digits, single spaces or dashes between them, Luhn-valid.  The
 * longest run that ends at a separator or the end and passes Luhn wins,
 * so a card followed by more digit groups is still found.
 */

static size_t
ngx_hoop_mask_card(u_char *p, size_t len, size_t i)
{
    u_char      digits[24];
    size_t      j, ends[24];
    ngx_uint_t  n, k, sum, dbl, v;

    n = 0;
    j = i;

    while (j < len && n < 24) {
        if (ngx_hoop_digit(p[j])) {
            digits[n] = p[j] - '0';
            ends[n] = j + 1;
            n++;
            j++;
            continue;
        }

        if ((p[j] == ' ' || p[j] == '-') && j + 1 < len
            && ngx_hoop_digit(p[j + 1]))
        {
            j++;
            continue;
        }

        break;
    }

    for (k = (n < 19 ? n : 19); k >= 13; k--) {

        /* the k-th digit must end the number or a group */
        j = ends[k - 1];

        if (j < len && (ngx_hoop_alpha(p[j]) || ngx_hoop_digit(p[j]))) {
            continue;
        }

        sum = 0;
        dbl = 0;

        for (v = k; v > 0; v--) {
            if (dbl) {
                sum += digits[v - 1] * 2 > 9 ? digits[v - 1] * 2 - 9
                                             : digits[v - 1] * 2;
            } else {
                sum += digits[v - 1];
            }

            dbl = !dbl;
        }

        if (sum % 10 == 0) {
            return j;
        }
    }

    return 0;
}


/* AAA-GG-SSSS, no area 000, 666 or 9xx, no group 00, no serial 0000 */

static size_t
ngx_hoop_mask_ssn(u_char *p, size_t len, size_t i)
{
    u_char  *s;

    if (len - i < 11) {
        return 0;
    }

    s = p + i;

    if (!(ngx_hoop_digit(s[0]) && ngx_hoop_digit(s[1])
          && ngx_hoop_digit(s[2]) && s[3] == '-'
          && ngx_hoop_digit(s[4]) && ngx_hoop_digit(s[5]) && s[6] == '-'
          && ngx_hoop_digit(s[7]) && ngx_hoop_digit(s[8])
          && ngx_hoop_digit(s[9]) && ngx_hoop_digit(s[10])))
    {
        return 0;
    }

    if (i + 11 < len && (ngx_hoop_alnum(s[11])
                         || (s[11] == '-' && i + 12 < len
                             && ngx_hoop_digit(s[12]))))
    {
        return 0;
    }

    if (ngx_strncmp(s, "000", 3) == 0 || ngx_strncmp(s, "666", 3) == 0
        || s[0] == '9'
        || ngx_strncmp(s + 4, "00", 2) == 0
        || ngx_strncmp(s + 7, "0000", 4) == 0)
    {
        return 0;
    }

    return i + 11;
}


/*
 * "+" and 10 to 15 digits (separators allowed); or a national number of
 * 10 to 15 digits in at least three groups of at most 4 digits, or with
 * the area code in parentheses: "(555) 123-4567", "555.123.4567",
 * "020 7946 0958".  Bare digit runs (ids, timestamps) are not phones.
 */

static size_t
ngx_hoop_mask_phone(u_char *p, size_t len, size_t i)
{
    size_t      j, end;
    ngx_uint_t  n, groups, cur, seps, paren, plus, bad;

    j = i;
    plus = 0;
    paren = 0;

    if (p[j] == '+') {
        plus = 1;
        j++;

        if (j >= len || !ngx_hoop_digit(p[j])) {
            return 0;
        }
    }

    n = 0;
    groups = 0;
    cur = 0;
    seps = 0;
    bad = 0;
    end = 0;

    while (j < len) {
        if (ngx_hoop_digit(p[j])) {
            if (++n > 15) {
                return 0;
            }

            cur++;
            seps = 0;
            end = ++j;
            continue;
        }

        if (p[j] != ' ' && p[j] != '-' && p[j] != '.' && p[j] != '('
            && p[j] != ')')
        {
            break;
        }

        /* at most two separators in a row: ") " */
        if (++seps > 2) {
            break;
        }

        if (p[j] == '(' || p[j] == ')') {
            paren++;
        }

        if (cur) {
            groups++;
            if (cur > 4 && !(groups == 1 && plus)) {
                bad = 1;
            }
        }

        cur = 0;
        j++;
    }

    if (end == 0) {
        return 0;
    }

    /* the last group */
    if (cur) {
        groups++;
        if (cur > 4 && !(groups == 1 && plus)) {
            bad = 1;
        }
    }

    if (end < len && ngx_hoop_alnum(p[end])) {
        return 0;
    }

    if (n < 10 || n > 15) {
        return 0;
    }

    if (plus) {
        return end;
    }

    /* two groups are enough after an area code in parentheses */
    if (bad || (groups < 3 && !(p[i] == '(' && paren >= 2 && groups >= 2)))
    {
        return 0;
    }

    return end;
}


/*
 * IBAN: country letters, check digits, 11 to 30 more letters/digits (upper
 * case, optionally in groups of four separated by one space); mod-97 of
 * the rearranged number must be 1.  The longest candidate ending at a
 * group boundary that verifies wins.
 */

static size_t
ngx_hoop_mask_iban(u_char *p, size_t len, size_t i)
{
    u_char      chars[34];
    size_t      j, ends[34];
    ngx_uint_t  n, k, m, v, r;

    if (len - i < 15
        || !ngx_hoop_upper(p[i + 1])
        || !ngx_hoop_digit(p[i + 2]) || !ngx_hoop_digit(p[i + 3]))
    {
        return 0;
    }

    n = 0;
    j = i;

    while (j < len && n < 34) {
        if (ngx_hoop_upper(p[j]) || ngx_hoop_digit(p[j])) {
            chars[n] = p[j];
            ends[n] = j + 1;
            n++;
            j++;
            continue;
        }

        if (p[j] == ' ' && n >= 4 && j + 1 < len
            && (ngx_hoop_upper(p[j + 1]) || ngx_hoop_digit(p[j + 1])))
        {
            j++;
            continue;
        }

        break;
    }

    for (k = n; k >= 15; k--) {
        j = ends[k - 1];

        if (j < len && ngx_hoop_alnum(p[j])) {
            continue;
        }

        r = 0;

        for (m = 0; m < k; m++) {
            v = chars[(m + 4) % k];

            if (ngx_hoop_digit(v)) {
                r = (r * 10 + (v - '0')) % 97;

            } else {
                r = (r * 100 + (v - 'A' + 10)) % 97;
            }
        }

        if (r == 1) {
            return j;
        }
    }

    return 0;
}


/* AWS access key ids: AKIA (long-term) or ASIA (temporary) + 16 */

static size_t
ngx_hoop_mask_aws(u_char *p, size_t len, size_t i)
{
    size_t  j;

    if (len - i < 20
        || (ngx_strncmp(p + i, "AKIA", 4) != 0
            && ngx_strncmp(p + i, "ASIA", 4) != 0))
    {
        return 0;
    }

    for (j = i + 4; j < i + 20; j++) {
        if (!ngx_hoop_upper(p[j]) && !ngx_hoop_digit(p[j])) {
            return 0;
        }
    }

    if (j < len && ngx_hoop_alnum(p[j])) {
        return 0;
    }

    return j;
}


/* header.payload.signature, base64url, the header a JSON object ("eyJ") */

static size_t
ngx_hoop_mask_jwt(u_char *p, size_t len, size_t i)
{
    size_t      j, seg;
    ngx_uint_t  dots;

    if (len - i < 3 || ngx_strncmp(p + i, "eyJ", 3) != 0) {
        return 0;
    }

    j = i;
    dots = 0;
    seg = i;

    for ( ;; ) {
        while (j < len && ngx_hoop_b64url(p[j])) {
            j++;
        }

        /* header and payload are never short */
        if (dots < 2 && j - seg < (dots == 0 ? 10 : 2)) {
            return 0;
        }

        if (dots < 2 && j < len && p[j] == '.') {
            dots++;
            j++;
            seg = j;
            continue;
        }

        break;
    }

    if (dots != 2) {
        return 0;
    }

    return j;
}


/*
 * "-----BEGIN ... PRIVATE KEY-----" to the matching END line; a block
 * without its END line is masked to the end of the text.
 */

static size_t
ngx_hoop_mask_pem(u_char *p, size_t len, size_t i)
{
    u_char  *s, *last, *e, *eol;

    s = p + i;
    last = p + len;

    if (last - s < 11 + 16 + 5 || ngx_strncmp(s, "-----BEGIN ", 11) != 0) {
        return 0;
    }

    eol = ngx_hoop_mask_find(s + 11, ngx_min(last, s + 11 + 64), "-----",
                             5);
    if (eol == NULL || eol - (s + 11) < 11
        || ngx_strncmp(eol - 11, "PRIVATE KEY", 11) != 0)
    {
        return 0;
    }

    e = ngx_hoop_mask_find(eol + 5, last, "-----END ", 9);
    if (e == NULL) {
        return len;
    }

    e = ngx_hoop_mask_find(e + 9, last, "-----", 5);
    if (e == NULL) {
        return len;
    }

    return e + 5 - p;
}


static u_char *
ngx_hoop_mask_find(u_char *p, u_char *last, char *s, size_t n)
{
    u_char  *q;

    while (last - p >= (ssize_t) n) {
        q = ngx_strlchr(p, last - n + 1, s[0]);
        if (q == NULL) {
            return NULL;
        }

        if (ngx_strncmp(q, s, n) == 0) {
            return q;
        }

        p = q + 1;
    }

    return NULL;
}
