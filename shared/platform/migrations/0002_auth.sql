-- Accounts: credentials, contact details, what contractors do, how users want to be notified.
-- Users created before this migration (or by other means) have no password and cannot log in.
ALTER TABLE users
    ADD COLUMN phone                 text,
    -- argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash); never the password.
    ADD COLUMN password_hash         text,
    -- Contractors: category slugs they work in (their regions are in `regions`).
    ADD COLUMN categories            text[] NOT NULL DEFAULT '{}',
    ADD COLUMN notification_channels text[] NOT NULL DEFAULT '{email}'
        CHECK (notification_channels <@ ARRAY['email', 'telegram', 'sms']::text[]),
    ADD COLUMN telegram_chat_id      bigint,
    ADD COLUMN language              text NOT NULL DEFAULT 'ru' CHECK (language IN ('ru', 'en')),
    -- Contractors: set by security (security.contractor_verified / contractor_rejected).
    ADD COLUMN verification_status   text NOT NULL DEFAULT 'pending'
        CHECK (verification_status IN ('pending', 'verified', 'rejected')),
    ADD COLUMN updated_at            timestamptz NOT NULL DEFAULT now();

-- E-mails are stored lower-cased by the auth functions; this keeps any other writer honest too.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));
-- Contractors eligible for a request: by region and by category.
CREATE INDEX users_contractors_by_region ON users USING gin (regions) WHERE role = 'contractor' AND active;
CREATE INDEX users_contractors_by_category ON users USING gin (categories) WHERE role = 'contractor' AND active;

-- Refresh tokens: opaque random strings handed to the client; only their SHA-256 is kept.
-- Each login starts a family; POST /auth/refresh rotates (the presented token is marked rotated and
-- a successor is issued in the same family). Presenting a rotated token again means it leaked: the
-- whole family is revoked. Logout revokes the family (or, with all: true, every family of the user).
CREATE TABLE refresh_tokens (
    id             uuid PRIMARY KEY,
    family_id      uuid NOT NULL,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash     bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    rotated_at     timestamptz,
    replaced_by    uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN ('logout', 'logout_all', 'reuse', 'account_disabled')),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id, expires_at);

-- Failed logins per normalised e-mail, registered or not (so a lock reveals nothing): N failures
-- within the window lock further attempts until locked_until (429 + Retry-After).
CREATE TABLE login_throttle (
    email             text PRIMARY KEY,
    failures          integer NOT NULL CHECK (failures > 0),
    window_started_at timestamptz NOT NULL,
    locked_until      timestamptz,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX login_throttle_by_age ON login_throttle (updated_at);
