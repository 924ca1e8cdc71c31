-- product_db_init.sql: the product service's own database, product_db.
-- Owns categories, products, product_inventory, product_images and product_variants.
--
-- Run once, on an empty database, as the owning role:
--   psql -v ON_ERROR_STOP=1 -U product_user -d product_db -f sql/init/product_db_init.sql
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

-- updated_at triggers
CREATE TRIGGER categories_set_updated_at BEFORE UPDATE ON categories
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER products_set_updated_at BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER product_inventory_set_updated_at BEFORE UPDATE ON product_inventory
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER product_variants_set_updated_at BEFORE UPDATE ON product_variants
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMIT;
