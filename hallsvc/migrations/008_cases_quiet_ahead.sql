-- C5: the changes a scheduler records ahead of a moment (a fifth of the open
-- cases before a close) re-arm nobody else: the scheduler arms them itself.
-- A NOTIFY per row (217,746 at a million open cases) took the database-wide
-- notify lock at every batch's commit and queued the windows' verbs behind
-- it (see 007). The writer says so with the transaction-local setting
-- `hallsvc.cases_quiet`; every other write notifies as before.
CREATE OR REPLACE FUNCTION cases_armed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.next_change IS NOT NULL AND (TG_OP = 'INSERT'
            OR NEW.next_change IS DISTINCT FROM OLD.next_change)
            AND coalesce(current_setting('hallsvc.cases_quiet', true), '') <> 'on' THEN
        PERFORM pg_notify('hallsvc_cases', NEW.hall_id || ' ' || NEW.id || ' '
            || ceil(extract(epoch FROM NEW.next_change) * 1000)::bigint);
    END IF;
    RETURN NULL;
END $$;
