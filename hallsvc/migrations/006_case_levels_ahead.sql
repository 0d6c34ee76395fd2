-- C5: a level change by time is recorded ahead of its moment, "as of" it, so
-- that at the moment (a close, when a fifth of the open cases may change at
-- once) only the announcement remains. See docs/cases.md, "The warning
-- scheduler".
--
-- `level_next` from `level_next_at` on: the level in force at t is whichever
-- of (level, level_at) and (level_next, level_next_at) began last at or
-- before t. Readers that know t derive it; `level` itself is brought in step
-- ("settled") a few seconds after each moment, for readers that do not.
ALTER TABLE cases
    ADD COLUMN level_next    text CHECK (level_next IN ('green', 'yellow', 'red')),
    ADD COLUMN level_next_at timestamptz,
    ADD CHECK ((level_next IS NULL) = (level_next_at IS NULL));

-- C5: one row per (hall, moment) with changes recorded ahead: announced once
-- (announced_at), cases whose recorded change an event undid before the
-- moment (dropped: left out of the announcement), and brought in step
-- (settled_at). A moment not yet announced when hallsvc starts (it was down
-- then) is announced at start.
CREATE TABLE case_level_moments (
    hall_id      text        NOT NULL,
    at           timestamptz NOT NULL,
    announced_at timestamptz,
    settled_at   timestamptz,
    dropped      bigint[]    NOT NULL DEFAULT '{}',
    PRIMARY KEY (hall_id, at)
);
CREATE INDEX case_level_moments_open ON case_level_moments (hall_id, at)
    WHERE settled_at IS NULL;
