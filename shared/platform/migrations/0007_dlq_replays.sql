-- Dead letters replayed by `servicehub-admin dlq replay`: one row per dead-letter record, written
-- in the transaction that is committed only after the replayed record reached the broker, so a
-- record is replayed once however often it is asked for (a crash in between replays it again,
-- which idempotent consumers absorb).
CREATE TABLE dlq_replays (
    dlq_topic     text NOT NULL,
    dlq_partition integer NOT NULL,
    dlq_offset    bigint NOT NULL,
    source_topic  text NOT NULL,
    replayed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
