-- Notifications: one row per message (cause, recipient, channel). The `notify` consumer claims the
-- row before it sends and marks it after, so a redelivered event never sends a message twice.
--
-- dedup_key is the cause event's id, or a logical key when two events can lead to one message
-- (the manager's new-request notice: `new_request:<request id>`, from request.created or
-- workflow.manager_assigned, whichever names the manager first).
--
-- state: sending  - claimed, the provider is being called (claimed_at says since when);
--        retrying - the last attempts failed transiently; the next delivery of the event claims it again;
--        sent     - the provider accepted it (provider_message_id);
--        failed   - given up: a permanent refusal, no usable address, or an invocation that ended
--                   mid-send (the outcome is unknown, and resending could duplicate it).
CREATE TABLE notifications (
    id                  uuid PRIMARY KEY,
    dedup_key           text NOT NULL,
    recipient_id        uuid NOT NULL,
    channel             text NOT NULL CHECK (channel IN ('email', 'telegram', 'sms')),
    template            text NOT NULL,
    language            text NOT NULL CHECK (language IN ('ru', 'en')),
    cause_event_id      uuid NOT NULL,
    request_id          uuid,
    -- The e-mail address, chat id or phone number it went to.
    address             text NOT NULL,
    state               text NOT NULL CHECK (state IN ('sending', 'retrying', 'sent', 'failed')),
    attempts            integer NOT NULL DEFAULT 0,
    provider_message_id text,
    last_error          text,
    claimed_at          timestamptz NOT NULL,
    sent_at             timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dedup_key, recipient_id, channel),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX notifications_by_recipient ON notifications (recipient_id, created_at DESC);
CREATE INDEX notifications_by_cause ON notifications (cause_event_id);
CREATE INDEX notifications_stuck ON notifications (claimed_at) WHERE state IN ('sending', 'retrying');
