-- cart_db_init.sql: the cart service's own database, cart_db.
-- Owns carts, cart_items, wishlists and wishlist_items (mirrored with legacy), plus the
-- service-only tables cart_view, saved_carts and reference_validation_log (not in legacy).
--
-- Run once, on an empty database, as the owning role:
--   psql -v ON_ERROR_STOP=1 -U cart_user -d cart_db -f sql/init/cart_db_init.sql
--
-- Every table shared with legacy keeps exactly the columns (names, types, defaults, order)
-- and primary key it has in sql/legacy/poc_init.sql, because pgtandem copies row images
-- between the two. References to rows another service owns are plain id columns here.

BEGIN;

-- Stamps updated_at on UPDATE. pgtandem's mirror connections set pgtandem.mirror=on,
-- and then the stamp is skipped so the row keeps the value copied from the primary.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('pgtandem.mirror', true) = 'on' THEN RETURN NEW; END IF;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE carts (
    id              serial PRIMARY KEY,
    user_id         integer,  -- id in auth_db, no foreign key
    status          varchar(20) NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'converted', 'abandoned', 'merged')),
    currency        char(3) NOT NULL DEFAULT 'USD',
    subtotal        numeric(12,2) NOT NULL DEFAULT 0,
    discount_total  numeric(12,2) NOT NULL DEFAULT 0,
    promo_code      varchar(40),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz
);
CREATE INDEX carts_user_id_idx ON carts (user_id);
CREATE INDEX carts_active_user_idx ON carts (user_id, updated_at) WHERE status = 'active';

CREATE TABLE cart_items (
    id              bigserial PRIMARY KEY,
    cart_id         integer NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id      integer NOT NULL,  -- id in product_db, no foreign key
    variant_id      integer,  -- id in product_db, no foreign key
    quantity        integer NOT NULL CHECK (quantity > 0),
    unit_price      numeric(12,2) NOT NULL CHECK (unit_price >= 0),
    added_at        timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cart_items_cart_id_idx ON cart_items (cart_id);
CREATE INDEX cart_items_product_id_idx ON cart_items (product_id);

CREATE TABLE wishlists (
    id              serial PRIMARY KEY,
    user_id         integer NOT NULL,  -- id in auth_db, no foreign key
    name            varchar(100) NOT NULL DEFAULT 'My wishlist',
    is_public       boolean NOT NULL DEFAULT false,
    share_token     uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wishlists_share_token_key UNIQUE (share_token)
);
CREATE INDEX wishlists_user_id_idx ON wishlists (user_id);

CREATE TABLE wishlist_items (
    id              serial PRIMARY KEY,
    wishlist_id     integer NOT NULL REFERENCES wishlists (id) ON DELETE CASCADE,
    product_id      integer NOT NULL,  -- id in product_db, no foreign key
    note            text,
    priority        smallint NOT NULL DEFAULT 0,
    added_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wishlist_items_wishlist_product_key UNIQUE (wishlist_id, product_id)
);
CREATE INDEX wishlist_items_product_id_idx ON wishlist_items (product_id);

-- ---------------------------------------------------------------------------
-- Service-only tables: these exist in cart_db alone and are never mirrored.
-- ---------------------------------------------------------------------------

-- Denormalized read model of a cart (one row per cart), rebuilt by refresh_cart_view().
CREATE TABLE cart_view (
    cart_id             integer PRIMARY KEY REFERENCES carts (id) ON DELETE CASCADE,
    user_id             integer,  -- id in auth_db, no foreign key
    status              varchar(20) NOT NULL,
    currency            char(3) NOT NULL DEFAULT 'USD',
    item_count          integer NOT NULL DEFAULT 0,
    total_quantity      integer NOT NULL DEFAULT 0,
    subtotal            numeric(12,2) NOT NULL DEFAULT 0,
    items               jsonb NOT NULL DEFAULT '[]'::jsonb,
    last_activity_at    timestamptz,
    refreshed_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cart_view_user_id_idx ON cart_view (user_id);

-- A cart the user put aside under a name, with a snapshot of its lines.
CREATE TABLE saved_carts (
    id              serial PRIMARY KEY,
    user_id         integer NOT NULL,  -- id in auth_db, no foreign key
    source_cart_id  integer REFERENCES carts (id) ON DELETE SET NULL,
    name            varchar(100) NOT NULL,
    items           jsonb NOT NULL DEFAULT '[]'::jsonb,
    item_count      integer NOT NULL DEFAULT 0,
    subtotal        numeric(12,2) NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX saved_carts_user_id_idx ON saved_carts (user_id);

-- Outcome of checking that an id this service holds still exists in its owning service.
CREATE TABLE reference_validation_log (
    id              bigserial PRIMARY KEY,
    reference_type  varchar(20) NOT NULL
                    CHECK (reference_type IN ('user', 'product', 'variant', 'promo_code')),
    reference_id    bigint NOT NULL,
    source_table    varchar(63) NOT NULL,
    source_id       bigint,
    is_valid        boolean NOT NULL,
    error_message   text,
    validated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reference_validation_log_ref_idx
    ON reference_validation_log (reference_type, reference_id);
CREATE INDEX reference_validation_log_invalid_idx
    ON reference_validation_log (validated_at) WHERE NOT is_valid;

-- Rebuilds cart_view for one cart, or for every cart when called with NULL.
-- Kept out of triggers on purpose: mirrored writes must not have side effects.
CREATE FUNCTION refresh_cart_view(p_cart_id integer DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM cart_view WHERE p_cart_id IS NULL OR cart_id = p_cart_id;
    INSERT INTO cart_view (cart_id, user_id, status, currency, item_count, total_quantity,
                           subtotal, items, last_activity_at, refreshed_at)
    SELECT c.id, c.user_id, c.status, c.currency,
           count(ci.id)::integer,
           coalesce(sum(ci.quantity), 0)::integer,
           coalesce(sum(ci.quantity * ci.unit_price), 0)::numeric(12,2),
           coalesce(jsonb_agg(jsonb_build_object(
                        'item_id', ci.id, 'product_id', ci.product_id,
                        'variant_id', ci.variant_id, 'quantity', ci.quantity,
                        'unit_price', ci.unit_price) ORDER BY ci.id)
                    FILTER (WHERE ci.id IS NOT NULL), '[]'::jsonb),
           greatest(c.updated_at, max(ci.updated_at)),
           now()
      FROM carts c
      LEFT JOIN cart_items ci ON ci.cart_id = c.id
     WHERE p_cart_id IS NULL OR c.id = p_cart_id
     GROUP BY c.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;

-- updated_at triggers
CREATE TRIGGER carts_set_updated_at BEFORE UPDATE ON carts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER cart_items_set_updated_at BEFORE UPDATE ON cart_items
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER wishlists_set_updated_at BEFORE UPDATE ON wishlists
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER saved_carts_set_updated_at BEFORE UPDATE ON saved_carts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMIT;
