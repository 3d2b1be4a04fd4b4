-- Users as far as the foundation needs them: roles and the regions managers and contractors serve.
-- Credentials and profiles arrive with the auth issue.
CREATE TABLE users (
    id           uuid PRIMARY KEY,
    role         text NOT NULL CHECK (role IN ('customer', 'manager', 'contractor', 'security', 'admin')),
    display_name text NOT NULL,
    email        text UNIQUE,
    regions      text[] NOT NULL DEFAULT '{}',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_active_managers_by_region ON users USING gin (regions) WHERE role = 'manager' AND active;

CREATE TABLE service_requests (
    id                  uuid PRIMARY KEY,
    customer_id         uuid NOT NULL,
    title               text NOT NULL,
    description         text NOT NULL,
    category            text NOT NULL,
    urgency             text NOT NULL CHECK (urgency IN ('low', 'normal', 'high', 'urgent')),
    region              text NOT NULL,
    city                text NOT NULL,
    address             text NOT NULL,
    preferred_from      timestamptz,
    preferred_to        timestamptz,
    budget_amount_minor bigint CHECK (budget_amount_minor > 0),
    budget_currency     text,
    status              text NOT NULL CHECK (status IN ('new', 'manager_assigned', 'clarification_needed',
                            'sent_to_contractors', 'contractor_assigned', 'in_progress', 'completed', 'cancelled')),
    priority            text CHECK (priority IN ('low', 'normal', 'high', 'critical')),
    manager_id          uuid REFERENCES users (id),
    manager_assigned_at timestamptz,
    contractor_id       uuid REFERENCES users (id),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK ((preferred_from IS NULL) = (preferred_to IS NULL)),
    CHECK ((budget_amount_minor IS NULL) = (budget_currency IS NULL))
);
-- A manager's load: their open requests.
CREATE INDEX service_requests_open_by_manager ON service_requests (manager_id)
    WHERE status NOT IN ('completed', 'cancelled');
CREATE INDEX service_requests_by_customer ON service_requests (customer_id, created_at DESC);
CREATE INDEX service_requests_by_region_status ON service_requests (region, status);

-- Every status a request has been in, with who moved it and why.
CREATE TABLE request_status_history (
    id            bigserial PRIMARY KEY,
    request_id    uuid NOT NULL REFERENCES service_requests (id),
    from_status   text,
    to_status     text NOT NULL,
    actor_user_id uuid,
    actor_role    text,
    actor_service text,
    reason        text,
    event_id      uuid NOT NULL,
    changed_at    timestamptz NOT NULL
);
CREATE INDEX request_status_history_by_request ON request_status_history (request_id, id);

-- Transactional outbox: events are written with the state change that causes them and
-- published after commit (and by the relay for whatever is left), in id order per key.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    event_type   text NOT NULL,
    topic        text NOT NULL,
    message_key  text NOT NULL,
    headers      jsonb NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_unpublished_by_key ON outbox (message_key, id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Idempotent consumers: the effect of an event and this mark commit together.
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
