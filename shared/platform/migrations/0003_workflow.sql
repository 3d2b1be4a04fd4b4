-- The workflow after a manager is assigned: offers to contractors, clarification, completion.

-- Which contractors a request was sent to (workflow.sent_to_contractors); an offered contractor
-- may accept it and sees it in GET /requests.
CREATE TABLE request_offers (
    request_id    uuid NOT NULL REFERENCES service_requests (id),
    contractor_id uuid NOT NULL REFERENCES users (id),
    offered_at    timestamptz NOT NULL,
    PRIMARY KEY (request_id, contractor_id)
);
CREATE INDEX request_offers_by_contractor ON request_offers (contractor_id, request_id);

ALTER TABLE service_requests
    ADD COLUMN clarification_question text,
    ADD COLUMN completion_report      text,
    ADD COLUMN final_price_minor      bigint CHECK (final_price_minor > 0),
    ADD COLUMN final_price_currency   text,
    ADD CONSTRAINT final_price_whole CHECK ((final_price_minor IS NULL) = (final_price_currency IS NULL));
CREATE INDEX service_requests_by_created ON service_requests (created_at DESC, id DESC);
CREATE INDEX service_requests_by_contractor ON service_requests (contractor_id) WHERE contractor_id IS NOT NULL;

-- Security's access decision for contractors (security.access_granted / access_revoked); a revoked
-- contractor gets no offers.
ALTER TABLE users
    ADD COLUMN access_revoked boolean NOT NULL DEFAULT false;

-- Idempotency-Key: the first response to a (caller, key) is kept and replayed for repeats of the
-- same request. A row without a response is in flight; one left so for longer than a function's
-- timeout belonged to a crashed invocation and is taken over.
CREATE TABLE idempotency_keys (
    scope            uuid NOT NULL,          -- the caller's user id (nil for anonymous callers)
    idempotency_key  text NOT NULL,
    method           text NOT NULL,
    path             text NOT NULL,
    request_hash     bytea NOT NULL,
    started_at       timestamptz NOT NULL,
    status_code      integer,
    response_headers jsonb,
    response_body    text,
    completed_at     timestamptz,
    PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (started_at);
