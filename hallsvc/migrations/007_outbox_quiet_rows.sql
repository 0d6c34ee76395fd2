-- The outbox's wake-up no longer serialises the window verbs' commits.
--
-- The statement trigger of 001 called pg_notify for every INSERT on the
-- outbox, even one that inserted no row (a finish writes none). A NOTIFY
-- takes a database-wide lock from its transaction's pre-commit until the
-- end of the commit, WAL flush included: with 200 windows each call and
-- each finish waited for every other one's fsync in turn, and call-next
-- queued for seconds behind the lock (bench/call_next.py, issue 3).
--
-- Now:
-- * a statement that inserts no row notifies nobody;
-- * rows written `quiet` do not notify from inside their transaction: their
--   writer (hallsvc's Database.transition) wakes the publisher itself once
--   the verb has committed: directly in its own process, and with one
--   NOTIFY of its own for the others, coalesced over concurrent verbs.
-- Every other writer (cases, SMS replies) notifies as before.
ALTER TABLE outbox ADD COLUMN quiet boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM added WHERE NOT quiet) THEN
        PERFORM pg_notify('hallsvc_outbox', '');
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
