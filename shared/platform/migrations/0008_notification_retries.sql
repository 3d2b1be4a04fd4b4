-- A message its provider keeps refusing (SES or the Bot API down) is no longer retried by failing
-- its Kafka batch, which AWS gives up on after 10 retries: the row keeps what is needed to send it
-- again (the rendered text, the cause's correlation and trace) and when to try next, and notify's
-- schedule sends it then. The same schedule settles claims left `sending` by an invocation that
-- died mid-send (notifications_stuck).
ALTER TABLE notifications
    ADD COLUMN subject         text,
    ADD COLUMN body            text,
    ADD COLUMN correlation_id  uuid,
    ADD COLUMN traceparent     text,
    ADD COLUMN next_attempt_at timestamptz;

CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'retrying';
