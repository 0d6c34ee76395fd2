-- Cases and their time limits (C1–C9): the record of every case, every step
-- of it (the tracking sheet 审批跟踪表, C7), its suspensions and special
-- procedures (C3a), extensions (C4) and the parts of a joint case (C6).
-- The warning scheduler (C5) is rebuilt from `cases.next_change`.

CREATE TABLE cases (
    id                    bigserial PRIMARY KEY,
    hall_id               text        NOT NULL,
    number                text        NOT NULL,        -- 受理编号, printed on the slip
    service_code          text        NOT NULL,
    service_name          text        NOT NULL,        -- as the service was named then
    department            text        NOT NULL,        -- C9: the responsible department
    type                  text        NOT NULL CHECK (type IN ('immediate', 'promised',
                              'joint', 'forwarded', 'rejected', 'incomplete', 'urgent')),
    state                 text        NOT NULL CHECK (state IN ('waiting_materials', 'open',
                              'suspended', 'finished')),
    window_id             text        NOT NULL,        -- the accepting window
    clerk                 text        NOT NULL,        -- C9: the responsible clerk
    ticket_id             bigint      REFERENCES tickets (id),
    applicant             text        NOT NULL,
    phone                 text,                        -- C8: where the result notice goes
    subject               text        NOT NULL DEFAULT '',
    statutory_days        integer,                     -- C2, as the service had it then
    promised_days         integer,
    joint                 boolean     NOT NULL DEFAULT false,
    law_extension         integer,
    accepted_at           timestamptz NOT NULL,
    materials_complete_at timestamptz,                 -- C3: a 补办件's clock starts here
    missing               jsonb,                       -- C1: every missing item, told at once
    outcome               text CHECK (outcome IN ('approved', 'refused', 'forwarded',
                              'rejected')),
    decision              jsonb,                       -- reasons, basis, rights (C1 退办件)
    finished_at           timestamptz,                 -- C3: the decision sealed
    on_time               boolean,                     -- C9: decided at the finish
    result_ready_at       timestamptz,                 -- C8
    collected_at          timestamptz,
    level                 text        NOT NULL DEFAULT 'green'
                              CHECK (level IN ('green', 'yellow', 'red')),  -- C5: announced
    level_at              timestamptz NOT NULL,
    due_day               date,
    due_at                timestamptz,
    provisional           boolean     NOT NULL DEFAULT false,  -- C2a
    next_change           timestamptz,                 -- C5: NULL = only an event changes it
    version               integer     NOT NULL DEFAULT 1,
    UNIQUE (hall_id, number),
    CHECK (finished_at IS NULL OR finished_at >= accepted_at)
) WITH (fillfactor = 80);
-- C5: at a close many cases change level at once. Their rows are updated in
-- place (HOT: room on the page, and no indexed column changes: level,
-- level_at, next_change and version are not indexed), so a level change
-- writes no index entry. The scheduler's rebuild reads (id, next_change) of
-- every case in id order once, at start.
CREATE INDEX cases_open_by_due ON cases (hall_id, due_at) WHERE finished_at IS NULL;
CREATE INDEX cases_by_window ON cases (hall_id, window_id, due_at);
CREATE INDEX cases_finished ON cases (hall_id, finished_at) WHERE finished_at IS NOT NULL;

-- C7: every step with its time, window and actor.
CREATE TABLE case_events (
    id        bigserial PRIMARY KEY,
    case_id   bigint      NOT NULL REFERENCES cases (id),
    hall_id   text        NOT NULL,
    kind      text        NOT NULL,
    at        timestamptz NOT NULL,
    window_id text,
    actor     text,                                    -- clerk, lead, manager; NULL: hallsvc
    detail    jsonb
);
CREATE INDEX case_events_case ON case_events (case_id, id);

-- C3a: suspensions (挂起) and special procedures (特别程序, own limit).
CREATE TABLE case_pauses (
    id         bigserial PRIMARY KEY,
    case_id    bigint      NOT NULL REFERENCES cases (id),
    hall_id    text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('suspension', 'hearing', 'tender',
                   'auction', 'inspection', 'testing', 'quarantine', 'appraisal',
                   'expert_review')),
    reason     text        NOT NULL,
    notice     text        NOT NULL,                   -- the written notice given
    start_at   timestamptz NOT NULL,
    end_at     timestamptz,
    limit_days integer CHECK (limit_days > 0),
    level      text        NOT NULL DEFAULT 'green',   -- C5: a procedure warns like a case
    CHECK (end_at IS NULL OR end_at >= start_at)
);
CREATE INDEX case_pauses_case ON case_pauses (case_id, id);

-- C4: lawful extensions.
CREATE TABLE case_extensions (
    id            bigserial PRIMARY KEY,
    case_id       bigint      NOT NULL REFERENCES cases (id),
    hall_id       text        NOT NULL,
    authorised_by text        NOT NULL,
    role          text        NOT NULL,
    reason        text        NOT NULL,
    new_due       date        NOT NULL,
    working_days  integer     NOT NULL CHECK (working_days > 0),
    granted_at    timestamptz NOT NULL
);
CREATE INDEX case_extensions_case ON case_extensions (case_id, id);

-- C5, C6: steps with their own limit; a joint case's departments are steps
-- that run in parallel. A department that sends nobody (absent) or misses
-- its limit (timeout) is deemed to consent, and bears the responsibility.
CREATE TABLE case_steps (
    id         bigserial PRIMARY KEY,
    case_id    bigint      NOT NULL REFERENCES cases (id),
    hall_id    text        NOT NULL,
    name       text        NOT NULL,
    department text,
    limit_days integer     NOT NULL CHECK (limit_days > 0),
    start_at   timestamptz NOT NULL,
    end_at     timestamptz,
    outcome    text CHECK (outcome IN ('done', 'consented', 'refused', 'deemed_consent')),
    deemed     text CHECK (deemed IN ('absent', 'timeout')),
    actor      text,
    CHECK (end_at IS NULL OR end_at >= start_at),
    CHECK ((outcome = 'deemed_consent') = (deemed IS NOT NULL))
);
CREATE INDEX case_steps_case ON case_steps (case_id, id);

-- C5: every process's scheduler hears of a case (re)armed by any process
-- once the change is committed: "<hall> <case id> <next change, epoch ms rounded up>".
CREATE FUNCTION cases_armed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.next_change IS NOT NULL AND (TG_OP = 'INSERT'
            OR NEW.next_change IS DISTINCT FROM OLD.next_change) THEN
        PERFORM pg_notify('hallsvc_cases', NEW.hall_id || ' ' || NEW.id || ' '
            || ceil(extract(epoch FROM NEW.next_change) * 1000)::bigint);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER cases_armed AFTER INSERT OR UPDATE OF next_change ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_armed();

-- C5: what the recorded levels were reckoned with (thresholds, closing time,
-- calendar). When it differs at start, every unfinished case is reckoned again.
CREATE TABLE case_watch (
    hall_id     text PRIMARY KEY,
    fingerprint text NOT NULL
);
