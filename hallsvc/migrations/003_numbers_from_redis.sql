-- Q1 numbering moves from a counter row to Redis.
--
-- The counter row (ticket_counters) was locked from the upsert to the commit,
-- so every ticket of one line waited for the previous one's WAL flush: one
-- line could never issue faster than one commit at a time. Redis now hands
-- out the day's next number per line (INCR, with the Q8 per-session count and
-- the kiosk's idempotency key in the same Lua step), and the number is
-- written here under UNIQUE (hall_id, service_day, letter, seq): a number is
-- still never given twice in a day, and a number Redis hands out again after
-- losing its state costs the kiosk a retry with the next one. After a Redis
-- loss the counters are rebuilt from these rows (max seq and count per
-- session), which is why a ticket now records its session. The same Redis
-- step gives the ticket its queue key (the hall's issue order of the day), so
-- that within a line numbers and queue order always agree.
ALTER TABLE tickets ADD COLUMN session smallint NOT NULL DEFAULT 0;

-- Less to write per ticket, on the kiosk's hot path:
-- * the ticket row is the record of its issue (time, channel, service); a
--   second 'issued' row in ticket_events said it again. ticket_history reads
--   both as one history, in order.
-- * most tickets carry no idempotency key: index only those that do.
ALTER TABLE tickets DROP CONSTRAINT tickets_hall_id_idempotency_key_key;
CREATE UNIQUE INDEX tickets_idempotency ON tickets (hall_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE VIEW ticket_history AS
    SELECT t.id AS ticket_id, t.hall_id, 'issued'::text AS kind, t.issued_at AS at,
           NULL::text AS window_id, NULL::text AS clerk,
           jsonb_build_object('channel', t.channel, 'service', t.service_code) AS detail,
           0::bigint AS seq
      FROM tickets t
    UNION ALL
    SELECT e.ticket_id, e.hall_id, e.kind, e.at, e.window_id, e.clerk, e.detail, e.id
      FROM ticket_events e
     WHERE e.kind <> 'issued';  -- written by earlier versions; the ticket row says it

DROP FUNCTION issue_ticket(text, date, text, text, text, text, text, text, timestamptz,
                           integer, integer);
DROP TABLE ticket_counters;

CREATE FUNCTION issue_ticket(
    p_hall text, p_day date, p_letter text, p_seq integer, p_order bigint, p_service text,
    p_priority text, p_channel text, p_phone text, p_idem text, p_at timestamptz,
    p_session integer
) RETURNS TABLE (id bigint, number text, service_code text, priority text, state text,
                 window_id text, clerk text, recalls integer, queue_key bigint,
                 issued_at timestamptz, target_window text, service_day date, channel text,
                 phone text, called_at timestamptz, finished_at timestamptz, replay boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id  bigint;
    v_row tickets%ROWTYPE;
BEGIN
    IF p_idem IS NOT NULL THEN
        SELECT * INTO v_row FROM tickets t
            WHERE t.hall_id = p_hall AND t.idempotency_key = p_idem;
        IF FOUND THEN
            RETURN QUERY SELECT v_row.id, v_row.number, v_row.service_code, v_row.priority,
                v_row.state, v_row.window_id, v_row.clerk, v_row.recalls, v_row.queue_key,
                v_row.issued_at, v_row.target_window, v_row.service_day, v_row.channel,
                v_row.phone, v_row.called_at, v_row.finished_at, true;
            RETURN;
        END IF;
    END IF;

    v_id := nextval('tickets_id_seq');
    -- No conflict target: either unique key may stop the row, and no
    -- subtransaction (an EXCEPTION block) is paid for on every ticket.
    INSERT INTO tickets (id, hall_id, service_day, letter, seq, number, service_code,
                         priority, channel, phone, queue_key, issued_at, idempotency_key,
                         session)
        VALUES (v_id, p_hall, p_day, p_letter, p_seq,
                p_letter || lpad(p_seq::text, 3, '0'), p_service, p_priority, p_channel,
                p_phone, p_order, p_at, p_idem, p_session)
    ON CONFLICT DO NOTHING
    RETURNING * INTO v_row;
    IF NOT FOUND THEN
        IF p_idem IS NOT NULL AND EXISTS (
                SELECT 1 FROM tickets t WHERE t.hall_id = p_hall AND t.idempotency_key = p_idem) THEN
            -- A retry of the same request committed meanwhile: the caller
            -- calls again and gets that ticket as a replay.
            RAISE EXCEPTION 'idempotency key % raced', p_idem USING ERRCODE = 'HC002';
        END IF;
        RAISE EXCEPTION 'ticket number % taken for line % on %', p_seq, p_letter, p_day
            USING ERRCODE = 'HC003';
    END IF;
    RETURN QUERY SELECT v_row.id, v_row.number, v_row.service_code, v_row.priority,
        v_row.state, v_row.window_id, v_row.clerk, v_row.recalls, v_row.queue_key,
        v_row.issued_at, v_row.target_window, v_row.service_day, v_row.channel,
        v_row.phone, v_row.called_at, v_row.finished_at, false;
END $$;
