-- poc_init.sql: the legacy monolith database `poc`, before the split.
-- All 19 tables of auth, product, cart and promotion live here in schema public,
-- with foreign keys inside and across service boundaries, as the monolith had them.
--
-- Run once, on an empty database, as the owning role (poc_user):
--   psql -v ON_ERROR_STOP=1 -U poc_user -d poc -f sql/legacy/poc_init.sql
--
-- Column names, types, defaults, order and primary keys must stay identical to the
-- per-service scripts in sql/init/: pgtandem copies row images between the two sides.
--
-- Foreign keys that cross a service boundary never cascade (ON DELETE NO ACTION): a
-- cascade would delete rows in legacy that the service database never hears about.

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

-- ===========================================================================
-- auth
-- ===========================================================================

CREATE TABLE users (
    id              serial PRIMARY KEY,
    public_id       uuid NOT NULL DEFAULT gen_random_uuid(),
    email           varchar(255) NOT NULL,
    username        varchar(50) NOT NULL,
    password_hash   text NOT NULL,
    first_name      varchar(100),
    last_name       varchar(100),
    role            varchar(20) NOT NULL DEFAULT 'customer'
                    CHECK (role IN ('customer', 'admin', 'support', 'merchant')),
    status          varchar(20) NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'pending', 'suspended', 'deleted')),
    email_verified  boolean NOT NULL DEFAULT false,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_public_id_key UNIQUE (public_id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_key UNIQUE (username)
);
CREATE INDEX users_status_idx ON users (status);
CREATE INDEX users_created_at_idx ON users (created_at);

CREATE TABLE user_sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash      varchar(64) NOT NULL,
    ip_address      inet,
    user_agent      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    last_seen_at    timestamptz,
    revoked_at      timestamptz,
    CONSTRAINT user_sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX user_sessions_user_id_idx ON user_sessions (user_id);
CREATE INDEX user_sessions_live_idx ON user_sessions (expires_at) WHERE revoked_at IS NULL;

-- One profile per user: the user's id is the key.
CREATE TABLE user_profiles (
    user_id             integer PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phone               varchar(32),
    date_of_birth       date,
    avatar_url          text,
    bio                 text,
    preferred_language  varchar(10) NOT NULL DEFAULT 'en',
    marketing_opt_in    boolean NOT NULL DEFAULT false,
    address             jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- ===========================================================================
-- product
-- ===========================================================================

CREATE TABLE categories (
    id              serial PRIMARY KEY,
    parent_id       integer REFERENCES categories (id) ON DELETE RESTRICT,
    name            varchar(120) NOT NULL,
    slug            varchar(160) NOT NULL,
    description     text,
    sort_order      integer NOT NULL DEFAULT 0,
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_slug_key UNIQUE (slug)
);
CREATE INDEX categories_parent_id_idx ON categories (parent_id);

CREATE TABLE products (
    id                  serial PRIMARY KEY,
    sku                 varchar(64) NOT NULL,
    category_id         integer REFERENCES categories (id) ON DELETE SET NULL,
    name                varchar(255) NOT NULL,
    slug                varchar(255) NOT NULL,
    description         text,
    brand               varchar(100),
    price               numeric(12,2) NOT NULL CHECK (price >= 0),
    compare_at_price    numeric(12,2) CHECK (compare_at_price >= 0),
    currency            char(3) NOT NULL DEFAULT 'USD',
    status              varchar(20) NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'active', 'archived')),
    attributes          jsonb NOT NULL DEFAULT '{}'::jsonb,
    weight_grams        integer CHECK (weight_grams >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_sku_key UNIQUE (sku),
    CONSTRAINT products_slug_key UNIQUE (slug)
);
CREATE INDEX products_category_id_idx ON products (category_id);
CREATE INDEX products_status_idx ON products (status);
CREATE INDEX products_brand_idx ON products (brand);
CREATE INDEX products_attributes_idx ON products USING gin (attributes);

CREATE TABLE product_inventory (
    id                  serial PRIMARY KEY,
    product_id          integer NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    warehouse_code      varchar(16) NOT NULL,
    quantity_on_hand    integer NOT NULL DEFAULT 0 CHECK (quantity_on_hand >= 0),
    quantity_reserved   integer NOT NULL DEFAULT 0 CHECK (quantity_reserved >= 0),
    reorder_level       integer NOT NULL DEFAULT 10,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_inventory_product_warehouse_key UNIQUE (product_id, warehouse_code)
);

CREATE TABLE product_images (
    id              bigserial PRIMARY KEY,
    product_id      integer NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    url             text NOT NULL,
    alt_text        varchar(255),
    position        integer NOT NULL DEFAULT 0,
    is_primary      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_images_product_id_idx ON product_images (product_id, position);

CREATE TABLE product_variants (
    id              serial PRIMARY KEY,
    product_id      integer NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku             varchar(64) NOT NULL,
    name            varchar(255) NOT NULL,
    option_values   jsonb NOT NULL DEFAULT '{}'::jsonb,
    price_delta     numeric(12,2) NOT NULL DEFAULT 0,
    stock_quantity  integer NOT NULL DEFAULT 0 CHECK (stock_quantity >= 0),
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_variants_sku_key UNIQUE (sku)
);
CREATE INDEX product_variants_product_id_idx ON product_variants (product_id);

-- ===========================================================================
-- cart
-- ===========================================================================

CREATE TABLE carts (
    id              serial PRIMARY KEY,
    user_id         integer REFERENCES users (id),          -- crosses into auth
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
    product_id      integer NOT NULL REFERENCES products (id),          -- crosses into product
    variant_id      integer REFERENCES product_variants (id),           -- crosses into product
    quantity        integer NOT NULL CHECK (quantity > 0),
    unit_price      numeric(12,2) NOT NULL CHECK (unit_price >= 0),
    added_at        timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cart_items_cart_id_idx ON cart_items (cart_id);
CREATE INDEX cart_items_product_id_idx ON cart_items (product_id);

CREATE TABLE wishlists (
    id              serial PRIMARY KEY,
    user_id         integer NOT NULL REFERENCES users (id),             -- crosses into auth
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
    product_id      integer NOT NULL REFERENCES products (id),          -- crosses into product
    note            text,
    priority        smallint NOT NULL DEFAULT 0,
    added_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wishlist_items_wishlist_product_key UNIQUE (wishlist_id, product_id)
);
CREATE INDEX wishlist_items_product_id_idx ON wishlist_items (product_id);

-- ===========================================================================
-- promotion
-- ===========================================================================

CREATE TABLE promo_codes (
    id                      serial PRIMARY KEY,
    code                    varchar(40) NOT NULL,
    description             text,
    discount_type           varchar(20) NOT NULL
                            CHECK (discount_type IN ('percentage', 'fixed_amount', 'free_shipping')),
    discount_value          numeric(12,2) NOT NULL DEFAULT 0 CHECK (discount_value >= 0),
    min_order_amount        numeric(12,2),
    max_discount_amount     numeric(12,2),
    usage_limit             integer,
    usage_limit_per_user    integer NOT NULL DEFAULT 1,
    times_used              integer NOT NULL DEFAULT 0,
    starts_at               timestamptz,
    ends_at                 timestamptz,
    is_active               boolean NOT NULL DEFAULT true,
    created_by              integer REFERENCES users (id),              -- crosses into auth
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT promo_codes_code_key UNIQUE (code),
    CONSTRAINT promo_codes_window_check CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);
CREATE INDEX promo_codes_active_idx ON promo_codes (starts_at, ends_at) WHERE is_active;

CREATE TABLE promo_usage (
    id                  bigserial PRIMARY KEY,
    promo_code_id       integer NOT NULL REFERENCES promo_codes (id),
    user_id             integer NOT NULL REFERENCES users (id),         -- crosses into auth
    cart_id             integer REFERENCES carts (id),                  -- crosses into cart
    order_reference     varchar(64),
    discount_amount     numeric(12,2) NOT NULL CHECK (discount_amount >= 0),
    used_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promo_usage_promo_code_id_idx ON promo_usage (promo_code_id);
CREATE INDEX promo_usage_user_id_idx ON promo_usage (user_id, promo_code_id);

CREATE TABLE promotion_campaigns (
    id              serial PRIMARY KEY,
    name            varchar(200) NOT NULL,
    description     text,
    status          varchar(20) NOT NULL DEFAULT 'draft'
                    CHECK (status IN ('draft', 'scheduled', 'active', 'paused', 'ended')),
    budget          numeric(12,2),
    spent           numeric(12,2) NOT NULL DEFAULT 0,
    rules           jsonb NOT NULL DEFAULT '{}'::jsonb,
    starts_at       timestamptz,
    ends_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promotion_campaigns_status_idx ON promotion_campaigns (status, starts_at);

-- Link table: the pair is the key.
CREATE TABLE campaign_promo_codes (
    campaign_id     integer NOT NULL REFERENCES promotion_campaigns (id) ON DELETE CASCADE,
    promo_code_id   integer NOT NULL REFERENCES promo_codes (id) ON DELETE CASCADE,
    added_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, promo_code_id)
);
CREATE INDEX campaign_promo_codes_promo_code_id_idx ON campaign_promo_codes (promo_code_id);

CREATE TABLE user_promo_eligibility (
    id              serial PRIMARY KEY,
    user_id         integer NOT NULL REFERENCES users (id),             -- crosses into auth
    promo_code_id   integer NOT NULL REFERENCES promo_codes (id) ON DELETE CASCADE,
    is_eligible     boolean NOT NULL DEFAULT true,
    reason          varchar(100),
    granted_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    CONSTRAINT user_promo_eligibility_user_promo_key UNIQUE (user_id, promo_code_id)
);
CREATE INDEX user_promo_eligibility_promo_code_id_idx ON user_promo_eligibility (promo_code_id);

CREATE TABLE promo_analytics (
    id              bigserial PRIMARY KEY,
    promo_code_id   integer NOT NULL REFERENCES promo_codes (id) ON DELETE CASCADE,
    campaign_id     integer REFERENCES promotion_campaigns (id) ON DELETE SET NULL,
    stat_date       date NOT NULL,
    impressions     integer NOT NULL DEFAULT 0,
    redemptions     integer NOT NULL DEFAULT 0,
    revenue         numeric(12,2) NOT NULL DEFAULT 0,
    discount_total  numeric(12,2) NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT promo_analytics_code_date_key UNIQUE (promo_code_id, stat_date)
);
CREATE INDEX promo_analytics_campaign_id_idx ON promo_analytics (campaign_id, stat_date);

CREATE TABLE promo_suggestions (
    id              serial PRIMARY KEY,
    user_id         integer NOT NULL REFERENCES users (id),             -- crosses into auth
    promo_code_id   integer NOT NULL REFERENCES promo_codes (id) ON DELETE CASCADE,
    product_id      integer REFERENCES products (id),                   -- crosses into product
    score           numeric(5,4) NOT NULL DEFAULT 0 CHECK (score BETWEEN 0 AND 1),
    reason          text,
    status          varchar(20) NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'shown', 'accepted', 'dismissed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    shown_at        timestamptz
);
CREATE INDEX promo_suggestions_user_status_idx ON promo_suggestions (user_id, status);

-- ===========================================================================
-- updated_at triggers
-- ===========================================================================

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER user_profiles_set_updated_at BEFORE UPDATE ON user_profiles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER categories_set_updated_at BEFORE UPDATE ON categories
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER products_set_updated_at BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER product_inventory_set_updated_at BEFORE UPDATE ON product_inventory
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER product_variants_set_updated_at BEFORE UPDATE ON product_variants
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER carts_set_updated_at BEFORE UPDATE ON carts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER cart_items_set_updated_at BEFORE UPDATE ON cart_items
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER wishlists_set_updated_at BEFORE UPDATE ON wishlists
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER promo_codes_set_updated_at BEFORE UPDATE ON promo_codes
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER promotion_campaigns_set_updated_at BEFORE UPDATE ON promotion_campaigns
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER promo_analytics_set_updated_at BEFORE UPDATE ON promo_analytics
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMIT;
