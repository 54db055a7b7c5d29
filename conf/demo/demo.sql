-- conf/demo/demo.sql — the `demo` database for the ngx_hoop demo.
--
-- Loaded once, in one transaction, by `scripts/servers.sh start STATE_DIR demo`
-- (as the superuser hoop); servers.sh grants the app_* roles afterwards.
-- Same shape as t/fixtures/schema.sql, richer: 200 people and 2000 orders, all
-- generated deterministically from md5() of the row number (no random()), so
-- every load produces identical data. Everything personal is fake:
--   card   Luhn-valid (Visa 16, Mastercard 16, Amex 15, Discover 16)
--   ssn    NNN-NN-NNNN with area 100-665, made up
--   phone  E.164 in fictional ranges (+1 NPA 555-01xx, UK +44 7700 900xxx)
--   iban   DE / GB / NL with correct mod-97 check digits
--   email  example.com / example.org / example.net

SET client_min_messages = warning;

-- Helpers (kept in the database: handy in the demo to show that masked values
-- were real card numbers / IBANs).

-- luhn_append('411111111111111') = '4111111111111111'
CREATE FUNCTION public.luhn_append(payload text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT payload || ((10 - sum(
               CASE WHEN (length(payload) - i) % 2 = 0          -- every second digit,
                    THEN (d * 2) / 10 + (d * 2) % 10            -- from the right, doubled
                    ELSE d END) % 10) % 10)::text
    FROM (SELECT i, substr(payload, i, 1)::int AS d
          FROM generate_series(1, length(payload)) AS i) AS digits
$$;

-- luhn_valid('4111 1111 1111 1111') = true (spaces/dashes ignored)
CREATE FUNCTION public.luhn_valid(num text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN n ~ '^[0-9]{2,}$' THEN public.luhn_append(left(n, -1)) = n ELSE false END
    FROM (SELECT regexp_replace(num, '[ -]', '', 'g') AS n) AS s
$$;

-- iban_make('DE', '370400440532013000') = 'DE89370400440532013000'
CREATE FUNCTION public.iban_make(country text, bban text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT country || lpad((98 - (string_agg(
               CASE WHEN c ~ '[A-Z]' THEN (ascii(c) - 55)::text ELSE c END, '' ORDER BY i
           )::numeric % 97))::text, 2, '0') || bban
    FROM (SELECT i, substr(bban || country || '00', i, 1) AS c
          FROM generate_series(1, length(bban) + 4) AS i) AS chars
$$;

-- n decimal digits derived from a seed string (md5 hex with a-f mapped to 0-5).
CREATE FUNCTION public.fake_digits(seed text, n int) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT left(translate(md5(seed) || md5(seed || '+'), 'abcdef', '012345'), n)
$$;

-- A small integer in [0, modulo) derived from a seed string.
CREATE FUNCTION public.fake_int(seed text, modulo int) RETURNS int
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT (('x' || left(md5(seed), 7))::bit(28)::int % modulo)
$$;

CREATE TABLE public.people (
    id     serial PRIMARY KEY,
    name   text,
    email  text,
    phone  text,
    ssn    text,
    card   text,
    iban   text,
    notes  text
);

WITH names AS (
    SELECT i,
           (ARRAY['Alice','Bob','Carol','Dave','Erin','Frank','Grace','Heidi','Ivan','Judy',
                  'Ken','Laura','Mallory','Niaj','Olivia','Peggy','Quentin','Rupert','Sybil','Trent',
                  'Uma','Victor','Wendy','Xavier','Yasmin','Zoe'])[1 + fake_int('first' || i, 26)] AS first,
           (ARRAY['Anders','Brown','Chen','Diaz','Evans','Fischer','Garcia','Hansen','Ivanov','Jones',
                  'Kowalski','Lopez','Moore','Nowak','Olsen','Park','Quinn','Russo','Smith','Taylor',
                  'Ueda','Varga','Weber','Xu','Yilmaz','Zhang'])[1 + fake_int('last' || i, 26)] AS last
    FROM generate_series(1, 200) AS i
)
INSERT INTO public.people (id, name, email, phone, ssn, card, iban, notes)
SELECT i,
       first || ' ' || last,
       lower(first) || '.' || lower(last) || i || '@'
           || (ARRAY['example.com','example.org','example.net'])[1 + i % 3],
       CASE WHEN i % 5 = 0
            THEN '+447700900' || lpad((i % 1000)::text, 3, '0')
            ELSE '+1' || (ARRAY['415','212','312','617','206','512'])[1 + fake_int('npa' || i, 6)]
                      || '5550' || lpad((100 + i % 100)::text, 3, '0')
       END,
       (100 + fake_int('area' || i, 566))::text || '-'
           || lpad((1 + fake_int('group' || i, 99))::text, 2, '0') || '-'
           || lpad((1 + fake_int('serial' || i, 9999))::text, 4, '0'),
       CASE i % 4
            WHEN 0 THEN luhn_append('4'    || fake_digits('card' || i, 14))              -- Visa
            WHEN 1 THEN luhn_append('5' || (1 + i % 5) || fake_digits('card' || i, 13))  -- Mastercard
            WHEN 2 THEN luhn_append((ARRAY['34','37'])[1 + i % 2] || fake_digits('card' || i, 12)) -- Amex
            ELSE        luhn_append('6011' || fake_digits('card' || i, 11))              -- Discover
       END,
       CASE i % 3
            WHEN 0 THEN iban_make('DE', fake_digits('iban' || i, 18))
            WHEN 1 THEN iban_make('GB', (ARRAY['WEST','BARC','LOYD','HBUK'])[1 + i % 4]
                                        || fake_digits('iban' || i, 14))
            ELSE        iban_make('NL', (ARRAY['ABNA','INGB','RABO'])[1 + i % 3]
                                        || fake_digits('iban' || i, 10))
       END,
       CASE i % 10
            WHEN 0 THEN 'VIP; backup contact ' || lower(last) || '.backup@example.org'
            WHEN 3 THEN 'called from +1415555019' || (i % 10) || ' about a refund'
            WHEN 7 THEN 'paid once with card ' || luhn_append('4000' || fake_digits('alt' || i, 11))
            ELSE NULL
       END
FROM names;

SELECT setval('public.people_id_seq', (SELECT max(id) FROM public.people));

CREATE TABLE public.orders (
    id          serial PRIMARY KEY,
    person_id   int REFERENCES public.people (id),
    amount      numeric(10,2),
    status      text,
    created_at  timestamptz
);

INSERT INTO public.orders (id, person_id, amount, status, created_at)
SELECT i,
       1 + fake_int('person' || i, 200),
       (fake_int('amount' || i, 99900) + 100) / 100.0,
       (ARRAY['new','paid','paid','shipped','shipped','shipped','delivered','cancelled','refunded'])
           [1 + fake_int('status' || i, 9)],
       timestamptz '2024-01-01 00:00:00+00' + i * interval '4 hours 23 minutes'
           + fake_int('minute' || i, 3600) * interval '1 second'
FROM generate_series(1, 2000) AS i;

SELECT setval('public.orders_id_seq', (SELECT max(id) FROM public.orders));

CREATE INDEX orders_person_id_idx ON public.orders (person_id);

-- Free-for-all table that every app_* role may write.
CREATE TABLE public.scratch (
    id  int,
    v   text
);

CREATE SCHEMA billing;

CREATE TABLE billing.invoices (
    id         serial PRIMARY KEY,
    person_id  int REFERENCES public.people (id),
    total      numeric(10,2)
);

-- One invoice per month and customer with orders, totalling those orders.
INSERT INTO billing.invoices (person_id, total)
SELECT person_id, sum(amount)
FROM public.orders
WHERE status NOT IN ('cancelled', 'refunded')
GROUP BY person_id, date_trunc('month', created_at)
ORDER BY min(id);

ANALYZE;
