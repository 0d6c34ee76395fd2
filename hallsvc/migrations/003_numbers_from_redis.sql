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

-- Issuing is now one plain INSERT … ON CONFLICT DO NOTHING (hallsvc's
-- Database.issue_ticket): no function call on the kiosk's hot path.
DROP FUNCTION issue_ticket(text, date, text, text, text, text, text, text, timestamptz,
                           integer, integer);
DROP TABLE ticket_counters;
