-- The driver matrix's own small app, on the seed's service boundaries: drv_items belongs to
-- the product service, drv_orders to cart. Applied to legacy (poc) and to each service
-- database by run.sh with psql -v side=legacy|service; column names, types and order are the
-- same on both sides, as pgtandem needs, and together they hold every column kind the matrix
-- drives: identity ALWAYS, generated stored, domains, an enum, arrays, a composite type,
-- jsonb, bytea, numeric, timestamptz, collations, and (legacy only, as a monolith that has
-- lived has them) a dropped column in the middle of a table.
--
-- The updated_at triggers are guarded on pgtandem.mirror in the service databases (new code,
-- written for the split) and NOT in legacy, which is the monolith as it is: its triggers
-- stamp every update, whoever sends it.

\set ON_ERROR_STOP on
\if :{?side}
\else
\echo 'schema.sql: give -v side=legacy or -v side=service'
\quit
\endif
SELECT :'side' = 'legacy' AS is_legacy \gset
BEGIN;

CREATE TYPE drv_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE DOMAIN drv_sku AS text CHECK (VALUE ~ '^[A-Z]{3}-[0-9]{1,6}$');
CREATE DOMAIN drv_qty AS integer NOT NULL CHECK (VALUE >= 0);
CREATE TYPE drv_money AS (amount numeric(12,2), currency char(3));

\if :is_legacy
CREATE FUNCTION drv_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
\else
CREATE FUNCTION drv_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('pgtandem.mirror', true) = 'on' THEN RETURN NEW; END IF;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
\endif

-- product service
CREATE TABLE drv_items (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tag          text NOT NULL,                     -- which client run wrote the row
    sku          drv_sku NOT NULL,
    name         text COLLATE "C" NOT NULL,
    title        text COLLATE "und-x-icu",
    status       drv_status NOT NULL DEFAULT 'new',
    price        numeric(12,2) NOT NULL,
    qty          drv_qty DEFAULT 0,
    total        numeric(14,2) GENERATED ALWAYS AS (price * qty) STORED,
    weight       numeric(20,6),
    tags         text[] NOT NULL DEFAULT '{}',
    dims         integer[],
    list_price   drv_money,
    attrs        jsonb NOT NULL DEFAULT '{}',
    blob         bytea,
    available_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tag, sku)
);
CREATE TRIGGER drv_items_stamp BEFORE UPDATE ON drv_items
    FOR EACH ROW EXECUTE FUNCTION drv_stamp();

-- cart service; item_id is an id in product's database, so no foreign key
\if :is_legacy
CREATE TABLE drv_orders (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tag         text NOT NULL,
    old_channel text,                               -- dropped below
    item_id     bigint NOT NULL,
    status      drv_status NOT NULL DEFAULT 'new',
    amount      drv_money,
    placed_at   timestamptz NOT NULL,
    placed_day  date NOT NULL DEFAULT current_date, -- the session's TimeZone decides it
    lines       jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE drv_orders DROP COLUMN old_channel;
\else
CREATE TABLE drv_orders (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tag         text NOT NULL,
    item_id     bigint NOT NULL,
    status      drv_status NOT NULL DEFAULT 'new',
    amount      drv_money,
    placed_at   timestamptz NOT NULL,
    placed_day  date NOT NULL DEFAULT current_date,
    lines       jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
\endif
CREATE TRIGGER drv_orders_stamp BEFORE UPDATE ON drv_orders
    FOR EACH ROW EXECUTE FUNCTION drv_stamp();

COMMIT;
