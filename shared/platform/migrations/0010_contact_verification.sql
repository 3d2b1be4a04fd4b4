-- Contacts are proved before the system sends them anything but a code (issue 14): registering
-- with somebody else's e-mail, phone or Telegram chat must not let anyone make servicehub write
-- to them. One row per contact an account claims; notify sends request, document and payment
-- messages only to the account's current addresses whose row is verified, and to the others only
-- the code that proves them.
--
-- verified_by: code      - the owner typed back the code sent there (POST /me/contact-verifications);
--              admin     - an admin entered it (POST /users) and answers for it;
--              bootstrap - the operator configured it (the bootstrap admin);
--              migration - the account was being sent messages there before this table existed.
CREATE TABLE contact_verifications (
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel           text NOT NULL CHECK (channel IN ('email', 'telegram', 'sms')),
    -- The e-mail address, phone number or chat id, as stored on the account.
    address           text NOT NULL,
    verified_at       timestamptz,
    verified_by       text CHECK (verified_by IN ('code', 'admin', 'bootstrap', 'migration')),
    -- The live code: its SHA-256 bound to the account, channel and address (never the code),
    -- written by notify when it sends the code; its expiry and the wrong tries it took.
    code_hash         bytea CHECK (length(code_hash) = 32),
    code_expires_at   timestamptz,
    failed_attempts   integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    -- When the latest code was asked for (the resend pace), and which request the live code
    -- answers: one code per request, whatever events claim.
    code_requested_at timestamptz,
    code_sent_for     timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (user_id, channel, address),
    CHECK ((verified_at IS NULL) = (verified_by IS NULL))
);

-- Every code asked for, by address across accounts: the hourly and daily caps of one address.
-- Rows older than a day are pruned by the auth functions.
CREATE TABLE contact_code_requests (
    id           uuid PRIMARY KEY,
    channel      text NOT NULL CHECK (channel IN ('email', 'telegram', 'sms')),
    address      text NOT NULL,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    requested_at timestamptz NOT NULL
);
CREATE INDEX contact_code_requests_by_address ON contact_code_requests (channel, address, requested_at);
CREATE INDEX contact_code_requests_by_age ON contact_code_requests (requested_at);

-- What accounts were being sent messages at before verification existed stays reachable.
INSERT INTO contact_verifications (user_id, channel, address, verified_at, verified_by, created_at,
                                   updated_at)
SELECT id, c.channel, c.address, now(), 'migration', now(), now()
FROM users, LATERAL (VALUES ('email', email), ('sms', phone), ('telegram', telegram_chat_id::text))
            AS c (channel, address)
WHERE coalesce(c.address, '') <> '';
