-- The device bus (issue 5): what the hall's devices told the server (H4, H6,
-- H8, H8a), the alarms raised from it (Q6, H2, H6), and what the device hub
-- needs to carry on after a restart (Q6: which announcements were spoken).

-- `seq` of what the device hub publishes itself (board and pad states, say
-- commands): reserved in blocks of 1000 (nextval gives a block's first
-- number), so it keeps rising across restarts and processes; devices drop a
-- seq that is not higher than the last one on the same topic.
CREATE SEQUENCE device_seq INCREMENT BY 1000;

-- Q6: a (re)starting hub re-derives the announcements still to be spoken from
-- the recent `calls` rows of the outbox: written with the call, so durable.
CREATE INDEX outbox_by_topic ON outbox (hall_id, topic, created_at);

-- Each device's last `online` flag (its retained message or its last will).
CREATE TABLE device_presence (
    hall_id   text        NOT NULL,
    device    text        NOT NULL,
    online    boolean     NOT NULL,
    since     timestamptz NOT NULL,
    firmware  text        NOT NULL DEFAULT '',
    PRIMARY KEY (hall_id, device)
);

-- Q6: how each announcement ended at each caller. A restarted hub does not
-- say again what is here.
CREATE TABLE announcements (
    hall_id   text        NOT NULL,
    caller    text        NOT NULL,
    id        text        NOT NULL,   -- <window>-<ticket>-<call's epoch ms>
    ticket    text        NOT NULL,
    window_id text        NOT NULL,
    recall    boolean     NOT NULL,
    outcome   text        NOT NULL CHECK (outcome IN ('finished', 'abandoned', 'gave_up')),
    at        timestamptz NOT NULL,
    PRIMARY KEY (hall_id, caller, id)
);
CREATE INDEX announcements_recent ON announcements (hall_id, at);

-- H6: every reading, with the server's time (`at`, what the alarm counts
-- with) and the sensor's own.
CREATE TABLE temperature_readings (
    id        bigserial PRIMARY KEY,
    hall_id   text        NOT NULL,
    device    text        NOT NULL,
    at        timestamptz NOT NULL,
    device_at timestamptz,
    celsius   double precision,
    humidity  double precision,
    fault     text        NOT NULL DEFAULT ''
);
CREATE INDEX temperature_latest ON temperature_readings (hall_id, device, id DESC);

-- H4: every tap at the attendance readers; `tap_id` is unique per tap, so a
-- tap delivered twice (at least once) is kept once.
CREATE TABLE attendance_taps (
    hall_id     text        NOT NULL,
    tap_id      text        NOT NULL,
    device      text        NOT NULL,
    staff       text        NOT NULL,
    direction   text        NOT NULL CHECK (direction IN ('in', 'out')),
    method      text        NOT NULL,
    at          timestamptz NOT NULL,   -- the tap's time, as the reader says
    received_at timestamptz NOT NULL,
    PRIMARY KEY (hall_id, tap_id)
);
CREATE INDEX attendance_taps_by_time ON attendance_taps (hall_id, at);

-- Alarms for the manager: raised once, cleared when the condition stops.
CREATE TABLE device_alarms (
    id         bigserial PRIMARY KEY,
    hall_id    text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('device_offline', 'unstaffed',
                               'temperature', 'sensor_fault', 'caller_gave_up')),
    subject    text        NOT NULL,   -- the device or window concerned
    since      timestamptz NOT NULL,   -- the condition holds since
    raised_at  timestamptz NOT NULL,
    cleared_at timestamptz,
    detail     jsonb
);
CREATE UNIQUE INDEX device_alarms_open ON device_alarms (hall_id, kind, subject)
    WHERE cleared_at IS NULL;
CREATE INDEX device_alarms_recent ON device_alarms (hall_id, raised_at);

-- H8, H8a: one rating per visit (一次一评), tied to the ticket, the window and
-- the clerk. Ticket numbers restart each day (Q1): the day is part of the key.
CREATE TABLE ratings (
    id           bigserial PRIMARY KEY,
    hall_id      text        NOT NULL,
    service_day  date        NOT NULL,
    ticket       text        NOT NULL,
    window_id    text        NOT NULL,
    clerk        text        NOT NULL,
    service_code text        NOT NULL,
    pad          text        NOT NULL,
    level        smallint    NOT NULL CHECK (level BETWEEN 1 AND 5),
    at           timestamptz NOT NULL,
    UNIQUE (hall_id, service_day, ticket)
);

-- H8a: a 不满意 / 非常不满意 rating opens a follow-up (verify → fix → answer
-- → call back), due within a number of working days.
CREATE TABLE rating_follow_ups (
    rating_id   bigint      PRIMARY KEY REFERENCES ratings (id),
    hall_id     text        NOT NULL,
    opened_at   timestamptz NOT NULL,
    due         date        NOT NULL,
    steps       text[]      NOT NULL,
    provisional boolean     NOT NULL,   -- C2a: counted without an official calendar
    closed_at   timestamptz
);
