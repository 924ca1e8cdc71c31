-- auth_db_init.sql: the auth service's own database, auth_db.
-- Owns users, user_sessions and user_profiles; all its foreign keys stay inside the service.
--
-- Run once, on an empty database, as the owning role:
--   psql -v ON_ERROR_STOP=1 -U auth_user -d auth_db -f sql/init/auth_db_init.sql
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

-- updated_at triggers
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER user_profiles_set_updated_at BEFORE UPDATE ON user_profiles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMIT;
