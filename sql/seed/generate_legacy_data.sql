-- generate_legacy_data.sql: fills the legacy database `poc` with a fixed, repeatable data set.
-- Every value is a function of the row number (an md5-based hash, never random() or now()),
-- so two runs on two empty databases produce byte-identical tables.
--
-- Run once, on a freshly initialized poc (sql/legacy/poc_init.sql), as poc_user:
--   psql -v ON_ERROR_STOP=1 -U poc_user -d poc -f sql/seed/generate_legacy_data.sql
-- It refuses to run when any of the 19 tables already holds rows.

\set ON_ERROR_STOP on

BEGIN;

-- The data fixes updated_at itself; the guard in set_updated_at() keeps the few UPDATEs
-- below (totals filled in after their detail rows) from stamping the wall clock.
SET LOCAL pgtandem.mirror = 'on';
SET LOCAL TimeZone = 'UTC';

DO $$
DECLARE
    t text;
    nonempty boolean;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'user_sessions', 'user_profiles', 'categories', 'products',
                             'product_inventory', 'product_images', 'product_variants', 'carts',
                             'cart_items', 'wishlists', 'wishlist_items', 'promo_codes',
                             'promo_usage', 'promotion_campaigns', 'campaign_promo_codes',
                             'user_promo_eligibility', 'promo_analytics', 'promo_suggestions']
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', t) INTO nonempty;
        IF nonempty THEN
            RAISE EXCEPTION 'generate_legacy_data: table % already has rows; run only on an empty poc', t;
        END IF;
    END LOOP;
END;
$$;

-- ---------------------------------------------------------------------------
-- Helpers, session-local (pg_temp), gone when the session ends.
-- ---------------------------------------------------------------------------

-- A stable pseudo-random integer in [0, n) for (salt, i).
CREATE FUNCTION pg_temp.h(salt text, i bigint, n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (('x' || substr(md5(salt || ':' || i), 1, 15))::bit(60)::bigint) % n
$$;

-- One element of arr chosen by (salt, i).
CREATE FUNCTION pg_temp.pick(arr text[], salt text, i bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT arr[1 + pg_temp.h(salt, i, cardinality(arr))::int]
$$;

-- A fixed instant plus some minutes: the only clock the data set knows.
CREATE FUNCTION pg_temp.at(minutes bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT '2024-01-01 00:00:00+00'::timestamptz + minutes * interval '1 minute'
$$;

-- A stable uuid for (kind, i).
CREATE FUNCTION pg_temp.uid(kind text, i bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT md5(kind || ':' || i)::uuid
$$;

-- ===========================================================================
-- auth
-- ===========================================================================

-- 3,000 users, one every two hours from 2024-01-01. Users 1-10 are admins, 11-30 support.
INSERT INTO users (id, public_id, email, username, password_hash, first_name, last_name, role,
                   status, email_verified, last_login_at, created_at, updated_at)
SELECT i,
       pg_temp.uid('user', i),
       format('user%s@example.com', i),
       format('user%s', lpad(i::text, 5, '0')),
       '$2b$12$' || substr(md5('salt' || i) || md5('hash' || i), 1, 53),
       pg_temp.pick(ARRAY['Ada','Ben','Chloe','Dmitri','Elena','Farid','Grace','Hiro','Ines',
                          'Jonas','Kemal','Lena','Marco','Nadia','Omar','Priya','Quinn','Rosa',
                          'Sven','Tara','Uma','Victor','Wen','Yusuf','Zoe'], 'first', i),
       pg_temp.pick(ARRAY['Adler','Brandt','Costa','Dubois','Eriksen','Fischer','Garcia','Horvat',
                          'Ivanova','Jensen','Kowalski','Lindqvist','Moreau','Novak','Okafor',
                          'Petrov','Rossi','Schmidt','Tanaka','Varga','Weber','Young'], 'last', i),
       CASE WHEN i <= 10 THEN 'admin'
            WHEN i <= 30 THEN 'support'
            WHEN pg_temp.h('merchant', i, 40) = 0 THEN 'merchant'
            ELSE 'customer' END,
       CASE WHEN i <= 30 THEN 'active'
            ELSE (ARRAY['active','active','active','active','active','active','active','active',
                        'active','active','active','active','active','active','active','active',
                        'active','pending','suspended','deleted'])[1 + pg_temp.h('status', i, 20)]
       END,
       pg_temp.h('verified', i, 10) < 8,
       CASE WHEN pg_temp.h('login', i, 6) = 0 THEN NULL
            ELSE pg_temp.at(i * 120 + 1440 + pg_temp.h('login', i, 200000)) END,
       pg_temp.at(i * 120),
       pg_temp.at(i * 120 + pg_temp.h('upd', i, 100000))
FROM generate_series(1, 3000) AS i;

-- 2,800 profiles: users 2801-3000 never filled theirs in.
INSERT INTO user_profiles (user_id, phone, date_of_birth, avatar_url, bio, preferred_language,
                           marketing_opt_in, address, created_at, updated_at)
SELECT u.id,
       CASE WHEN pg_temp.h('phone?', u.id, 4) = 0 THEN NULL
            ELSE format('+1-555-%s-%s', lpad(pg_temp.h('ph1', u.id, 1000)::text, 3, '0'),
                                        lpad(pg_temp.h('ph2', u.id, 10000)::text, 4, '0')) END,
       date '1955-01-01' + pg_temp.h('dob', u.id, 18000)::int,
       CASE WHEN pg_temp.h('avatar', u.id, 3) = 0 THEN NULL
            ELSE format('https://cdn.example.com/avatars/%s.jpg', u.public_id) END,
       CASE WHEN pg_temp.h('bio', u.id, 2) = 0 THEN NULL
            ELSE format('%s from %s who likes %s.', u.first_name,
                        pg_temp.pick(ARRAY['Lisbon','Oslo','Austin','Lyon','Osaka','Gdansk','Leeds'], 'city', u.id),
                        pg_temp.pick(ARRAY['hiking','cooking','board games','cycling','jazz','gardening'], 'hobby', u.id)) END,
       pg_temp.pick(ARRAY['en','en','en','de','fr','es','pt','ja'], 'lang', u.id),
       pg_temp.h('mkt', u.id, 3) = 0,
       jsonb_build_object(
           'street', format('%s %s Street', 1 + pg_temp.h('no', u.id, 400),
                            pg_temp.pick(ARRAY['Oak','Maple','Harbor','Mill','Station','Church','Park'], 'street', u.id)),
           'city', pg_temp.pick(ARRAY['Lisbon','Oslo','Austin','Lyon','Osaka','Gdansk','Leeds'], 'city', u.id),
           'postal_code', lpad(pg_temp.h('zip', u.id, 100000)::text, 5, '0'),
           'country', pg_temp.pick(ARRAY['PT','NO','US','FR','JP','PL','GB'], 'city', u.id)),
       u.created_at + interval '1 hour',
       u.created_at + interval '1 hour' + pg_temp.h('pupd', u.id, 50000) * interval '1 minute'
FROM users u
WHERE u.id <= 2800
ORDER BY u.id;

-- 5,000 sessions, spread over the users.
INSERT INTO user_sessions (id, user_id, token_hash, ip_address, user_agent, created_at,
                           expires_at, last_seen_at, revoked_at)
SELECT pg_temp.uid('session', i),
       1 + pg_temp.h('suser', i, 3000),
       encode(sha256(convert_to('session-token-' || i, 'UTF8')), 'hex'),
       format('10.%s.%s.%s', (i / 65536) % 256, (i / 256) % 256, i % 256)::inet,
       pg_temp.pick(ARRAY['Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
                          'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15',
                          'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0',
                          'ShopApp/4.2 (iOS 17.5)', 'ShopApp/4.2 (Android 14)'], 'ua', i),
       pg_temp.at(360000 + i * 60),
       pg_temp.at(360000 + i * 60 + 30 * 1440),
       pg_temp.at(360000 + i * 60 + pg_temp.h('seen', i, 20000)),
       CASE WHEN pg_temp.h('revoked', i, 5) = 0
            THEN pg_temp.at(360000 + i * 60 + 20000 + pg_temp.h('rev', i, 10000)) END
FROM generate_series(1, 5000) AS i;

-- ===========================================================================
-- product
-- ===========================================================================

-- 2,000 categories in three levels: 1-20 departments, 21-200 their sections,
-- 201-2000 leaf categories. A parent always has a smaller id than its children.
INSERT INTO categories (id, parent_id, name, slug, description, sort_order, is_active,
                        created_at, updated_at)
SELECT i,
       CASE WHEN i <= 20 THEN NULL
            WHEN i <= 200 THEN 1 + (i - 21) % 20
            ELSE 21 + (i - 201) % 180 END,
       nm,
       lower(replace(nm, ' ', '-')) || '-' || i,
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'Everything in ' || nm || '.' END,
       i % 10,
       i <= 200 OR pg_temp.h('catactive', i, 25) <> 0,
       pg_temp.at(i * 5),
       pg_temp.at(i * 5 + pg_temp.h('catupd', i, 400000))
FROM generate_series(1, 2000) AS i
CROSS JOIN LATERAL (SELECT CASE
        WHEN i <= 20 THEN (ARRAY['Electronics','Home','Garden','Fashion','Sports','Toys','Books',
                                 'Beauty','Grocery','Automotive','Office','Pets','Music','Health',
                                 'Baby','Tools','Outdoor','Kitchen','Jewelry','Games'])[i]
        WHEN i <= 200 THEN pg_temp.pick(ARRAY['Essentials','Premium','Accessories','Classics',
                                              'New Arrivals','Outlet','Bestsellers','Eco'], 'sec', i)
                           || ' ' || (i - 20)
        ELSE pg_temp.pick(ARRAY['Small','Large','Compact','Deluxe','Basic','Pro','Mini','Smart',
                                'Vintage','Travel'], 'leaf', i)
             || ' ' || pg_temp.pick(ARRAY['Sets','Kits','Parts','Packs','Series','Range'], 'leaf2', i)
             || ' ' || (i - 200)
        END AS nm) AS n;

-- 5,000 products in leaf categories (every 250th one is not filed yet).
INSERT INTO products (id, sku, category_id, name, slug, description, brand, price,
                      compare_at_price, currency, status, attributes, weight_grams,
                      created_at, updated_at)
SELECT i,
       format('SKU-%s', lpad(i::text, 6, '0')),
       CASE WHEN i % 250 = 0 THEN NULL ELSE 201 + pg_temp.h('pcat', i, 1800)::int END,
       brand || ' ' || adj || ' ' || noun || ' ' || i,
       lower(brand || '-' || adj || '-' || noun || '-' || i),
       CASE WHEN i % 7 = 0 THEN NULL
            ELSE format('%s %s by %s, made for everyday use.', adj, lower(noun), brand) END,
       brand,
       price,
       CASE WHEN pg_temp.h('sale', i, 4) = 0 THEN round(price * 1.25, 2) END,
       CASE WHEN pg_temp.h('cur', i, 10) = 0 THEN 'EUR' ELSE 'USD' END,
       (ARRAY['active','active','active','active','active','active','active','active',
              'active','active','active','active','active','active','active','active',
              'active','draft','draft','archived'])[1 + pg_temp.h('pstatus', i, 20)],
       jsonb_build_object(
           'color', pg_temp.pick(ARRAY['black','white','red','blue','green','grey','beige'], 'color', i),
           'material', pg_temp.pick(ARRAY['cotton','steel','oak','plastic','glass','wool','bamboo'], 'mat', i),
           'rating', round((30 + pg_temp.h('rating', i, 21)) / 10.0, 1),
           'tags', jsonb_build_array(
               pg_temp.pick(ARRAY['gift','eco','bestseller','new','limited','bundle'], 'tag1', i),
               pg_temp.pick(ARRAY['sale','premium','classic','trending','handmade'], 'tag2', i))),
       50 + pg_temp.h('weight', i, 20000)::int,
       pg_temp.at(10000 + i * 60),
       pg_temp.at(10000 + i * 60 + pg_temp.h('pupd', i, 300000))
FROM generate_series(1, 5000) AS i
CROSS JOIN LATERAL (SELECT
       pg_temp.pick(ARRAY['Acme','Nordlys','Kestrel','Umbra','Vantage','Holm','Tessera','Brio',
                          'Quokka','Lumen','Ferro','Cobalt'], 'brand', i) AS brand,
       pg_temp.pick(ARRAY['Classic','Ultra','Lite','Rugged','Smart','Organic','Compact','Deluxe',
                          'Modular','Silent'], 'adj', i) AS adj,
       pg_temp.pick(ARRAY['Lamp','Kettle','Backpack','Headphones','Chair','Jacket','Blender',
                          'Drill','Notebook','Sneakers','Tent','Watch','Mug','Speaker'], 'noun', i) AS noun,
       ((99 + pg_temp.h('price', i, 50000)) / 100.0)::numeric(12,2) AS price) AS p;

-- 6,000 stock rows: every product in one warehouse, products 1-1000 in a second one too.
INSERT INTO product_inventory (id, product_id, warehouse_code, quantity_on_hand,
                               quantity_reserved, reorder_level, created_at, updated_at)
SELECT i, pid,
       (ARRAY['AMS1','FRA2','IAD1','SFO3'])[1 + (pid + CASE WHEN i > 5000 THEN 1 ELSE 0 END) % 4],
       onhand,
       least(onhand, pg_temp.h('reserved', i, 20)::int),
       (ARRAY[5, 10, 10, 20, 50])[1 + pg_temp.h('reorder', i, 5)],
       pg_temp.at(10000 + pid * 60 + 30),
       pg_temp.at(10000 + pid * 60 + 30 + pg_temp.h('iupd', i, 400000))
FROM generate_series(1, 6000) AS i
CROSS JOIN LATERAL (SELECT CASE WHEN i <= 5000 THEN i ELSE i - 5000 END AS pid,
                           pg_temp.h('onhand', i, 500)::int AS onhand) AS x;

-- 5,000 images: two per product for products 1-2500 (position 0 is the primary one).
INSERT INTO product_images (id, product_id, url, alt_text, position, is_primary, created_at)
SELECT i, pid,
       format('https://cdn.example.com/products/%s/%s.jpg', pid, pos),
       CASE WHEN pos = 0 THEN 'Front view' ELSE 'Side view' END,
       pos,
       pos = 0,
       pg_temp.at(10000 + pid * 60 + 10 + pos)
FROM generate_series(1, 5000) AS i
CROSS JOIN LATERAL (SELECT 1 + (i - 1) % 2500 AS pid, (i - 1) / 2500 AS pos) AS x;

-- 5,000 variants: products 1-2500 have two each, with ids p and p + 2500.
INSERT INTO product_variants (id, product_id, sku, name, option_values, price_delta,
                              stock_quantity, is_active, created_at, updated_at)
SELECT i, pid,
       format('SKU-%s-V%s', lpad(pid::text, 6, '0'), k + 1),
       size || ' / ' || color,
       jsonb_build_object('size', size, 'color', color),
       CASE size WHEN 'XL' THEN 5.00 WHEN 'L' THEN 2.50 ELSE 0 END,
       pg_temp.h('vstock', i, 300)::int,
       pg_temp.h('vactive', i, 12) <> 0,
       pg_temp.at(10000 + pid * 60 + 20 + k),
       pg_temp.at(10000 + pid * 60 + 20 + k + pg_temp.h('vupd', i, 300000))
FROM generate_series(1, 5000) AS i
CROSS JOIN LATERAL (SELECT 1 + (i - 1) % 2500 AS pid, (i - 1) / 2500 AS k,
                           pg_temp.pick(ARRAY['S','M','L','XL'], 'size', i) AS size,
                           pg_temp.pick(ARRAY['black','white','navy','olive'], 'vcolor', i) AS color) AS x;

-- ===========================================================================
-- promotion (codes first: carts refer to them by code)
-- ===========================================================================

-- 2,000 promo codes created by the admins (users 1-10).
INSERT INTO promo_codes (id, code, description, discount_type, discount_value, min_order_amount,
                         max_discount_amount, usage_limit, usage_limit_per_user, times_used,
                         starts_at, ends_at, is_active, created_by, created_at, updated_at)
SELECT i,
       format('%s%s-%s', pg_temp.pick(ARRAY['SAVE','WELCOME','SPRING','FLASH','VIP','BUNDLE','SHIP'], 'prefix', i),
              CASE dtype WHEN 'percentage' THEN (5 + pg_temp.h('pct', i, 10) * 5)::text ELSE '' END,
              lpad(i::text, 5, '0')),
       CASE dtype
            WHEN 'percentage' THEN format('%s%% off your order', 5 + pg_temp.h('pct', i, 10) * 5)
            WHEN 'fixed_amount' THEN format('%s off orders over %s', 5 + pg_temp.h('fixed', i, 20) * 5, 25 + pg_temp.h('min', i, 8) * 25)
            ELSE 'Free shipping' END,
       dtype,
       CASE dtype WHEN 'percentage' THEN 5 + pg_temp.h('pct', i, 10) * 5
                  WHEN 'fixed_amount' THEN 5 + pg_temp.h('fixed', i, 20) * 5
                  ELSE 0 END,
       CASE WHEN dtype = 'fixed_amount' THEN 25 + pg_temp.h('min', i, 8) * 25
            WHEN pg_temp.h('hasmin', i, 3) = 0 THEN 50.00 END,
       CASE WHEN dtype = 'percentage' THEN 100.00 END,
       CASE WHEN pg_temp.h('limited', i, 3) = 0 THEN NULL ELSE 100 * (1 + pg_temp.h('limit', i, 50)) END,
       1 + pg_temp.h('perusr', i, 3)::int,
       0,                                                          -- counted below
       pg_temp.at(200000 + i * 180),
       CASE WHEN pg_temp.h('open', i, 5) = 0 THEN NULL
            ELSE pg_temp.at(200000 + i * 180 + (30 + pg_temp.h('len', i, 90)) * 1440) END,
       pg_temp.h('pactive', i, 8) <> 0,
       1 + pg_temp.h('creator', i, 10)::int,
       pg_temp.at(200000 + i * 180 - 7 * 1440),
       pg_temp.at(200000 + i * 180 - 7 * 1440 + pg_temp.h('cupd', i, 10000))
FROM generate_series(1, 2000) AS i
CROSS JOIN LATERAL (SELECT (ARRAY['percentage','percentage','percentage','percentage','percentage',
                                  'percentage','fixed_amount','fixed_amount','fixed_amount',
                                  'free_shipping'])[1 + pg_temp.h('dtype', i, 10)] AS dtype) AS x;

-- ===========================================================================
-- cart
-- ===========================================================================

-- 4,000 carts; one in twenty belongs to a guest (no user). Totals are filled in below.
INSERT INTO carts (id, user_id, status, currency, subtotal, discount_total, promo_code,
                   created_at, updated_at, expires_at)
SELECT i,
       CASE WHEN pg_temp.h('guest', i, 20) = 0 THEN NULL ELSE 1 + pg_temp.h('cuser', i, 3000)::int END,
       st,
       'USD',
       0,
       0,
       CASE WHEN pg_temp.h('cpromo', i, 8) = 0
            THEN (SELECT code FROM promo_codes WHERE id = 1 + pg_temp.h('cpromoid', i, 2000)) END,
       pg_temp.at(400000 + i * 45),
       pg_temp.at(400000 + i * 45 + 1 + pg_temp.h('cartupd', i, 20000)),
       CASE WHEN st = 'active' THEN pg_temp.at(400000 + i * 45 + 14 * 1440) END
FROM generate_series(1, 4000) AS i
CROSS JOIN LATERAL (SELECT (ARRAY['active','active','active','active','converted','converted',
                                  'converted','converted','abandoned','merged'])
                           [1 + pg_temp.h('cstatus', i, 10)] AS st) AS x;

-- 5,000 cart lines; a line for products 1-2500 may pick one of that product's variants.
INSERT INTO cart_items (id, cart_id, product_id, variant_id, quantity, unit_price, added_at, updated_at)
SELECT x.i, x.cid, p.id, x.vid,
       1 + pg_temp.h('qty', x.i, 4)::int,
       p.price + coalesce(v.price_delta, 0),
       c.created_at + x.added * interval '1 minute',
       c.created_at + (x.added + pg_temp.h('itemupd', x.i, 300)) * interval '1 minute'
FROM (SELECT i,
             1 + pg_temp.h('icart', i, 4000)::int AS cid,
             1 + pg_temp.h('iprod', i, 5000)::int AS pid,
             1 + pg_temp.h('added', i, 600) AS added
      FROM generate_series(1, 5000) AS i) AS x0
CROSS JOIN LATERAL (SELECT x0.i, x0.cid, x0.pid, x0.added,
                           CASE WHEN x0.pid <= 2500 AND pg_temp.h('hasvar', x0.i, 2) = 1
                                THEN x0.pid + 2500 * pg_temp.h('whichvar', x0.i, 2)::int END AS vid) AS x
JOIN products p ON p.id = x.pid
JOIN carts c ON c.id = x.cid
LEFT JOIN product_variants v ON v.id = x.vid
ORDER BY x.i;

-- Cart totals from their lines; the discount follows the cart's promo code.
UPDATE carts c
   SET subtotal = t.subtotal,
       discount_total = t.discount
  FROM (SELECT s.id, s.subtotal,
               CASE WHEN pc.discount_type = 'percentage'
                        THEN least(round(s.subtotal * pc.discount_value / 100, 2),
                                   coalesce(pc.max_discount_amount, s.subtotal))
                    WHEN pc.discount_type = 'fixed_amount' THEN least(pc.discount_value, s.subtotal)
                    ELSE 0 END AS discount
          FROM (SELECT ca.id, ca.promo_code, sum(ci.quantity * ci.unit_price)::numeric(12,2) AS subtotal
                  FROM carts ca JOIN cart_items ci ON ci.cart_id = ca.id
                 GROUP BY ca.id) AS s
          LEFT JOIN promo_codes pc ON pc.code = s.promo_code) AS t
 WHERE t.id = c.id;

-- 2,000 wishlists.
INSERT INTO wishlists (id, user_id, name, is_public, share_token, created_at, updated_at)
SELECT i,
       1 + pg_temp.h('wuser', i, 3000)::int,
       pg_temp.pick(ARRAY['My wishlist','Birthday','Holiday gifts','Home ideas','Later','Kitchen upgrade'], 'wname', i),
       pg_temp.h('wpublic', i, 4) = 0,
       pg_temp.uid('wishlist', i),
       pg_temp.at(300000 + i * 200),
       pg_temp.at(300000 + i * 200 + pg_temp.h('wupd', i, 100000))
FROM generate_series(1, 2000) AS i;

-- 5,000 wishlist entries; within one wishlist the products are distinct by construction.
INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)
SELECT i, wid,
       1 + (wid * 37 + k * 1667) % 5000,
       CASE WHEN pg_temp.h('wnote', i, 5) = 0
            THEN pg_temp.pick(ARRAY['wait for a sale','in blue','for Sam','compare first'], 'wnotetxt', i) END,
       pg_temp.h('wprio', i, 4)::smallint,
       pg_temp.at(300000 + wid * 200 + 60 + k * 1440)
FROM generate_series(1, 5000) AS i
CROSS JOIN LATERAL (SELECT 1 + (i - 1) % 2000 AS wid, (i - 1) / 2000 AS k) AS x;

-- ===========================================================================
-- promotion (the rest)
-- ===========================================================================

-- 5,000 redemptions.
INSERT INTO promo_usage (id, promo_code_id, user_id, cart_id, order_reference, discount_amount, used_at)
SELECT i,
       1 + pg_temp.h('upromo', i, 2000)::int,
       1 + pg_temp.h('uuser', i, 3000)::int,
       CASE WHEN pg_temp.h('ucart?', i, 4) = 0 THEN NULL ELSE 1 + pg_temp.h('ucart', i, 4000)::int END,
       format('ORD-%s', lpad(i::text, 8, '0')),
       ((100 + pg_temp.h('udisc', i, 4900)) / 100.0)::numeric(12,2),
       pg_temp.at(420000 + i * 40)
FROM generate_series(1, 5000) AS i;

UPDATE promo_codes pc
   SET times_used = u.n
  FROM (SELECT promo_code_id, count(*)::int AS n FROM promo_usage GROUP BY promo_code_id) AS u
 WHERE u.promo_code_id = pc.id;

-- 2,000 campaigns with their targeting rules.
INSERT INTO promotion_campaigns (id, name, description, status, budget, spent, rules,
                                 starts_at, ends_at, created_at, updated_at)
SELECT i,
       format('%s %s %s', pg_temp.pick(ARRAY['Spring','Summer','Autumn','Winter','Back to School',
                                             'Black Friday','New Year','Weekend'], 'season', i),
              pg_temp.pick(ARRAY['Sale','Push','Drop','Deals','Rewards'], 'ctype', i), i),
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'Seasonal campaign number ' || i END,
       st,
       CASE WHEN pg_temp.h('nobudget', i, 6) = 0 THEN NULL ELSE budget END,
       CASE WHEN st IN ('active', 'paused', 'ended')
            THEN round(budget * pg_temp.h('spent', i, 100) / 100, 2) ELSE 0 END,
       jsonb_build_object(
           'min_cart_total', 20 + pg_temp.h('rmin', i, 9) * 10,
           'segments', jsonb_build_array(pg_temp.pick(ARRAY['new','returning','vip','dormant'], 'seg', i)),
           'channels', jsonb_build_array('web', pg_temp.pick(ARRAY['email','app','sms'], 'chan', i)),
           'stackable', pg_temp.h('stack', i, 3) = 0,
           'max_uses_per_user', 1 + pg_temp.h('maxuse', i, 3)),
       pg_temp.at(150000 + i * 240),
       pg_temp.at(150000 + i * 240 + (14 + pg_temp.h('clen', i, 60)) * 1440),
       pg_temp.at(150000 + i * 240 - 3 * 1440),
       pg_temp.at(150000 + i * 240 - 3 * 1440 + pg_temp.h('campupd', i, 50000))
FROM generate_series(1, 2000) AS i
CROSS JOIN LATERAL (SELECT (ARRAY['draft','scheduled','active','active','paused','ended','ended'])
                           [1 + pg_temp.h('cstat', i, 7)] AS st,
                           (1000 * (1 + pg_temp.h('budget', i, 50)))::numeric(12,2) AS budget) AS x;

-- 3,000 links: campaigns 1-1000 carry two codes, 1001-2000 one.
INSERT INTO campaign_promo_codes (campaign_id, promo_code_id, added_at)
SELECT cid,
       1 + (cid * 7 + k * 1000) % 2000,
       pg_temp.at(150000 + cid * 240 - 3 * 1440 + 30 + k)
FROM generate_series(1, 3000) AS i
CROSS JOIN LATERAL (SELECT CASE WHEN i <= 2000 THEN i ELSE i - 2000 END AS cid,
                           CASE WHEN i <= 2000 THEN 0 ELSE 1 END AS k) AS x
ORDER BY i;

-- 4,000 eligibility grants: users 1-1000 get two codes, the others one.
INSERT INTO user_promo_eligibility (id, user_id, promo_code_id, is_eligible, reason, granted_at, expires_at)
SELECT i, uid,
       1 + (uid * 13 + k * 1000) % 2000,
       pg_temp.h('elig', i, 10) <> 0,
       pg_temp.pick(ARRAY['welcome offer','loyalty tier','birthday','win-back','referral'], 'ereason', i),
       pg_temp.at(250000 + i * 90),
       CASE WHEN pg_temp.h('eexp', i, 3) = 0 THEN NULL ELSE pg_temp.at(250000 + i * 90 + 60 * 1440) END
FROM generate_series(1, 4000) AS i
CROSS JOIN LATERAL (SELECT CASE WHEN i <= 3000 THEN i ELSE i - 3000 END AS uid,
                           CASE WHEN i <= 3000 THEN 0 ELSE 1 END AS k) AS x;

-- 5,000 daily stats rows: up to three distinct days per code.
INSERT INTO promo_analytics (id, promo_code_id, campaign_id, stat_date, impressions, redemptions,
                             revenue, discount_total, created_at, updated_at)
SELECT i, pid,
       CASE WHEN pg_temp.h('acamp?', pid, 3) = 0 THEN NULL ELSE 1 + pg_temp.h('acamp', pid, 2000)::int END,
       date '2025-01-01' + (pid % 60 + k)::int,
       imp,
       red,
       (red * (20 + pg_temp.h('arev', i, 8000) / 100.0))::numeric(12,2),
       (red * (2 + pg_temp.h('adisc', i, 1500) / 100.0))::numeric(12,2),
       pg_temp.at(525600 + (pid % 60 + k + 1) * 1440),
       pg_temp.at(525600 + (pid % 60 + k + 1) * 1440 + pg_temp.h('aupd', i, 600))
FROM generate_series(1, 5000) AS i
CROSS JOIN LATERAL (SELECT 1 + (i - 1) % 2000 AS pid, (i - 1) / 2000 AS k,
                           pg_temp.h('aimp', i, 5000)::int AS imp) AS x0
CROSS JOIN LATERAL (SELECT pg_temp.h('ared', i, 1 + imp / 20)::int AS red) AS x1;

-- 4,000 suggestions, three in ten without a product.
INSERT INTO promo_suggestions (id, user_id, promo_code_id, product_id, score, reason, status,
                               created_at, shown_at)
SELECT i,
       1 + pg_temp.h('suser', i, 3000)::int,
       1 + pg_temp.h('spromo', i, 2000)::int,
       CASE WHEN pg_temp.h('sprod?', i, 10) < 3 THEN NULL ELSE 1 + pg_temp.h('sprod', i, 5000)::int END,
       (pg_temp.h('score', i, 10000) / 10000.0)::numeric(5,4),
       pg_temp.pick(ARRAY['viewed similar items','abandoned cart','price drop','frequently bought together',
                          'category affinity'], 'sreason', i),
       st,
       pg_temp.at(450000 + i * 30),
       CASE WHEN st <> 'pending' THEN pg_temp.at(450000 + i * 30 + 1 + pg_temp.h('shown', i, 2000)) END
FROM generate_series(1, 4000) AS i
CROSS JOIN LATERAL (SELECT (ARRAY['pending','shown','shown','accepted','dismissed'])
                           [1 + pg_temp.h('sstatus', i, 5)] AS st) AS x;

-- ===========================================================================
-- Sequences: every serial/bigserial column continues after its largest id.
-- ===========================================================================
DO $$
DECLARE
    r record;
    top bigint;
BEGIN
    FOR r IN
        SELECT s.oid::regclass AS seq, t.oid::regclass AS tbl, a.attname AS col
          FROM pg_class s
          JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
                          AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
          JOIN pg_class t ON t.oid = d.refobjid
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
          JOIN pg_namespace n ON n.oid = s.relnamespace
         WHERE s.relkind = 'S' AND n.nspname = 'public'
         ORDER BY 1
    LOOP
        EXECUTE format('SELECT max(%I) FROM %s', r.col, r.tbl) INTO top;
        IF top IS NULL THEN
            PERFORM setval(r.seq, 1, false);
        ELSE
            PERFORM setval(r.seq, top, true);
        END IF;
    END LOOP;
END;
$$;

COMMIT;

ANALYZE users, user_sessions, user_profiles, categories, products, product_inventory,
        product_images, product_variants, carts, cart_items, wishlists, wishlist_items,
        promo_codes, promo_usage, promotion_campaigns, campaign_promo_codes,
        user_promo_eligibility, promo_analytics, promo_suggestions;
