-- The durable record of the queue (Q1, Q5, Q8): every ticket and every state
-- change, with time, window and clerk. PostgreSQL is the truth; Redis is
-- rebuilt from these tables.

CREATE TABLE tickets (
    id              bigserial PRIMARY KEY,
    hall_id         text        NOT NULL,
    service_day     date        NOT NULL,
    letter          char(1)     NOT NULL,
    seq             integer     NOT NULL,
    number          text        NOT NULL,
    service_code    text        NOT NULL,
    priority        text        NOT NULL DEFAULT 'normal',
    channel         text        NOT NULL,
    phone           text,
    state           text        NOT NULL DEFAULT 'waiting'
                    CHECK (state IN ('waiting', 'called', 'served', 'skipped', 'voided')),
    queue_key       bigint      NOT NULL,          -- order in the queue, kept on restore
    target_window   text,                          -- transferred to this window only
    window_id       text,
    clerk           text,
    recalls         integer     NOT NULL DEFAULT 0,
    issued_at       timestamptz NOT NULL,
    called_at       timestamptz,
    finished_at     timestamptz,
    idempotency_key text,
    -- Q1: a number never repeats within a day.
    UNIQUE (hall_id, service_day, letter, seq),
    -- A kiosk that retries gets the same ticket.
    UNIQUE (hall_id, idempotency_key)
);
CREATE INDEX tickets_open ON tickets (hall_id, service_day)
    WHERE state IN ('waiting', 'called', 'skipped');

CREATE TABLE ticket_events (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint      NOT NULL REFERENCES tickets (id),
    hall_id     text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('issued', 'called', 'recalled', 'skipped',
                                    'restored', 'transferred', 'served', 'voided')),
    at          timestamptz NOT NULL,
    window_id   text,
    clerk       text,
    detail      jsonb
);
-- A window serves one person at a time: the record refuses a second called
-- ticket at one window, whatever the hot state says.
CREATE UNIQUE INDEX tickets_one_called_per_window ON tickets (hall_id, window_id)
    WHERE state = 'called';
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

-- Q1 numbering and Q8 per-session caps: one row per hall, day and letter.
CREATE TABLE ticket_counters (
    hall_id       text    NOT NULL,
    service_day   date    NOT NULL,
    letter        char(1) NOT NULL,
    last          integer NOT NULL,
    session       integer NOT NULL,
    session_count integer NOT NULL,
    PRIMARY KEY (hall_id, service_day, letter)
);

-- Window sessions: login, logout, pause, resume (Q5, H2).
CREATE TABLE window_events (
    id        bigserial PRIMARY KEY,
    hall_id   text        NOT NULL,
    window_id text        NOT NULL,
    kind      text        NOT NULL CHECK (kind IN ('login', 'logout', 'paused', 'resumed')),
    at        timestamptz NOT NULL,
    clerk     text,
    detail    jsonb
);
CREATE INDEX window_events_latest ON window_events (hall_id, window_id, id DESC);

-- Logged-in people. Only the sha256 of a token is kept, never the token.
CREATE TABLE auth_sessions (
    token_sha256 bytea PRIMARY KEY,
    hall_id      text        NOT NULL,
    user_name    text        NOT NULL,
    role         text        NOT NULL,
    window_id    text,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);

-- What must reach a device or a phone, written in the same transaction as the
-- state change and published from here (at least once; `id` is the sequence
-- devices de-duplicate by).
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    hall_id      text        NOT NULL,
    channel      text        NOT NULL CHECK (channel IN ('mqtt', 'sms')),
    topic        text        NOT NULL,
    payload      bytea       NOT NULL,
    qos          smallint    NOT NULL DEFAULT 1,
    retain       boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX outbox_pending ON outbox (hall_id, channel, id) WHERE published_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hallsvc_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Issue one ticket in one round trip: idempotency, numbering, cap, record.
-- Raises SQLSTATE HC001 when the session cap is reached (Q8 "排队号已取完")
-- and HC002 when a concurrent request with the same idempotency key won
-- (the caller retries and gets that ticket).
CREATE FUNCTION issue_ticket(
    p_hall text, p_day date, p_letter text, p_service text, p_priority text,
    p_channel text, p_phone text, p_idem text, p_at timestamptz,
    p_session integer, p_cap integer
) RETURNS TABLE (id bigint, number text, service_code text, priority text, state text,
                 window_id text, clerk text, recalls integer, queue_key bigint,
                 issued_at timestamptz, target_window text, service_day date, channel text,
                 phone text, called_at timestamptz, finished_at timestamptz, replay boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_seq   integer;
    v_count integer;
    v_id    bigint;
BEGIN
    IF p_idem IS NOT NULL THEN
        SELECT t.id INTO v_id FROM tickets t
            WHERE t.hall_id = p_hall AND t.idempotency_key = p_idem;
    END IF;

    IF v_id IS NULL THEN
        INSERT INTO ticket_counters AS c (hall_id, service_day, letter, last, session,
                                          session_count)
            VALUES (p_hall, p_day, p_letter, 1, p_session, 1)
        ON CONFLICT (hall_id, service_day, letter) DO UPDATE SET
            last = c.last + 1,
            session_count = CASE WHEN c.session = EXCLUDED.session
                                 THEN c.session_count + 1 ELSE 1 END,
            session = EXCLUDED.session
        RETURNING c.last, c.session_count INTO v_seq, v_count;

        IF p_cap > 0 AND v_count > p_cap THEN
            RAISE EXCEPTION 'ticket cap % reached for line % in session %',
                p_cap, p_letter, p_session USING ERRCODE = 'HC001';
        END IF;

        v_id := nextval(pg_get_serial_sequence('tickets', 'id'));
        INSERT INTO tickets (id, hall_id, service_day, letter, seq, number, service_code,
                             priority, channel, phone, queue_key, issued_at, idempotency_key)
            VALUES (v_id, p_hall, p_day, p_letter, v_seq,
                    p_letter || lpad(v_seq::text, 3, '0'), p_service, p_priority, p_channel,
                    p_phone, v_id, p_at, p_idem)
        ON CONFLICT (hall_id, idempotency_key) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'idempotency key % raced', p_idem USING ERRCODE = 'HC002';
        END IF;
        INSERT INTO ticket_events (ticket_id, hall_id, kind, at)
            VALUES (v_id, p_hall, 'issued', p_at);
        RETURN QUERY SELECT t.id, t.number, t.service_code, t.priority, t.state, t.window_id,
            t.clerk, t.recalls, t.queue_key, t.issued_at, t.target_window, t.service_day,
            t.channel, t.phone, t.called_at, t.finished_at, false
            FROM tickets t WHERE t.id = v_id;
    ELSE
        RETURN QUERY SELECT t.id, t.number, t.service_code, t.priority, t.state, t.window_id,
            t.clerk, t.recalls, t.queue_key, t.issued_at, t.target_window, t.service_day,
            t.channel, t.phone, t.called_at, t.finished_at, true
            FROM tickets t WHERE t.id = v_id;
    END IF;
END $$;
