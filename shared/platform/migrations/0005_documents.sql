-- HR documents (contracts, completion acts, payment orders): PDFs in S3, one row each here; who
-- signed them; payments recorded once both parties signed a completion act.
CREATE TABLE documents (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('contract', 'completion_act', 'payment_order')),
    request_id      uuid REFERENCES service_requests (id),
    contractor_id   uuid NOT NULL REFERENCES users (id),
    customer_id     uuid,
    title           text NOT NULL,
    amount_minor    bigint,
    currency        text,
    s3_bucket       text NOT NULL,
    s3_key          text NOT NULL,
    sha256          text NOT NULL,
    size_bytes      bigint NOT NULL,
    -- The event the document was generated from: one document of a kind per event.
    source_event_id uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (source_event_id, kind),
    CHECK ((amount_minor IS NULL) = (currency IS NULL))
);
CREATE INDEX documents_by_request ON documents (request_id, created_at);
CREATE INDEX documents_by_contractor ON documents (contractor_id, created_at);

CREATE TABLE document_signatures (
    document_id uuid NOT NULL REFERENCES documents (id),
    signer_id   uuid NOT NULL REFERENCES users (id),
    signer_role text NOT NULL,
    signed_at   timestamptz NOT NULL,
    PRIMARY KEY (document_id, signer_id)
);

CREATE TABLE payments (
    id            uuid PRIMARY KEY,
    -- The completion act both parties signed: one payment per act.
    document_id   uuid NOT NULL UNIQUE REFERENCES documents (id),
    request_id    uuid NOT NULL REFERENCES service_requests (id),
    contractor_id uuid NOT NULL REFERENCES users (id),
    customer_id   uuid NOT NULL,
    amount_minor  bigint NOT NULL CHECK (amount_minor > 0),
    currency      text NOT NULL,
    processed_at  timestamptz NOT NULL
);
CREATE INDEX payments_by_contractor ON payments (contractor_id, processed_at DESC);
CREATE INDEX payments_by_customer ON payments (customer_id, processed_at DESC);
