-- Each manager's open requests and latest assignment, kept by a trigger on service_requests, so
-- that choosing a manager reads one row per manager instead of counting all their requests (the
-- count took ~6 ms per assignment once a manager had a few thousand requests, and grew with
-- every one). The trigger sees every change, whichever code path makes it.
CREATE TABLE manager_workload (
    manager_id       uuid PRIMARY KEY REFERENCES users (id),
    open_requests    bigint NOT NULL DEFAULT 0 CHECK (open_requests >= 0),
    last_assigned_at timestamptz
);

CREATE FUNCTION request_is_open(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$ SELECT status NOT IN ('completed', 'cancelled') $$;

CREATE FUNCTION track_manager_workload() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_counted boolean := TG_OP <> 'INSERT' AND OLD.manager_id IS NOT NULL AND request_is_open(OLD.status);
    is_counted  boolean := TG_OP <> 'DELETE' AND NEW.manager_id IS NOT NULL AND request_is_open(NEW.status);
BEGIN
    IF was_counted AND NOT (is_counted AND NEW.manager_id = OLD.manager_id) THEN
        UPDATE manager_workload SET open_requests = open_requests - 1 WHERE manager_id = OLD.manager_id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF (is_counted AND NOT (was_counted AND NEW.manager_id = OLD.manager_id))
       OR (NEW.manager_id IS NOT NULL AND NEW.manager_assigned_at IS NOT NULL
           AND (TG_OP = 'INSERT' OR NEW.manager_assigned_at IS DISTINCT FROM OLD.manager_assigned_at)) THEN
        INSERT INTO manager_workload AS w (manager_id, open_requests, last_assigned_at)
        VALUES (NEW.manager_id, CASE WHEN is_counted THEN 1 ELSE 0 END, NEW.manager_assigned_at)
        ON CONFLICT (manager_id) DO UPDATE SET
            open_requests = w.open_requests + CASE
                WHEN is_counted AND NOT (was_counted AND NEW.manager_id = OLD.manager_id) THEN 1 ELSE 0 END,
            last_assigned_at = GREATEST(w.last_assigned_at, EXCLUDED.last_assigned_at);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER service_requests_manager_workload
    AFTER INSERT OR DELETE OR UPDATE OF status, manager_id, manager_assigned_at ON service_requests
    FOR EACH ROW EXECUTE FUNCTION track_manager_workload();

INSERT INTO manager_workload (manager_id, open_requests, last_assigned_at)
SELECT manager_id, count(*) FILTER (WHERE request_is_open(status)), max(manager_assigned_at)
FROM service_requests WHERE manager_id IS NOT NULL
GROUP BY manager_id;
