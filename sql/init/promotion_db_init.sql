-- promotion_db_init.sql: the promotion service's own database, promotion_db.
-- Owns promo_codes, promo_usage, promotion_campaigns, campaign_promo_codes,
-- user_promo_eligibility, promo_analytics and promo_suggestions.
--
-- Run once, on an empty database, as the owning role:
--   psql -v ON_ERROR_STOP=1 -U promotion_user -d promotion_db -f sql/init/promotion_db_init.sql
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
    created_by              integer,  -- id in auth_db, no foreign key
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT promo_codes_code_key UNIQUE (code),
    CONSTRAINT promo_codes_window_check CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);
CREATE INDEX promo_codes_active_idx ON promo_codes (starts_at, ends_at) WHERE is_active;

CREATE TABLE promo_usage (
    id                  bigserial PRIMARY KEY,
    promo_code_id       integer NOT NULL REFERENCES promo_codes (id),
    user_id             integer NOT NULL,  -- id in auth_db, no foreign key
    cart_id             integer,  -- id in cart_db, no foreign key
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
    user_id         integer NOT NULL,  -- id in auth_db, no foreign key
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
    user_id         integer NOT NULL,  -- id in auth_db, no foreign key
    promo_code_id   integer NOT NULL REFERENCES promo_codes (id) ON DELETE CASCADE,
    product_id      integer,  -- id in product_db, no foreign key
    score           numeric(5,4) NOT NULL DEFAULT 0 CHECK (score BETWEEN 0 AND 1),
    reason          text,
    status          varchar(20) NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'shown', 'accepted', 'dismissed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    shown_at        timestamptz
);
CREATE INDEX promo_suggestions_user_status_idx ON promo_suggestions (user_id, status);

-- updated_at triggers
CREATE TRIGGER promo_codes_set_updated_at BEFORE UPDATE ON promo_codes
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER promotion_campaigns_set_updated_at BEFORE UPDATE ON promotion_campaigns
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER promo_analytics_set_updated_at BEFORE UPDATE ON promo_analytics
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMIT;
