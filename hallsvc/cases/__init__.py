"""Cases and their working-day time limits (C1–C9), built in issue 6.

The pure core: `model` (the timing facts of a case, values that check
themselves), `deadline` (when a case is due: C2, C3, C3a, C4) and `levels`
(green / yellow / red and the next instant a level changes: C5). The
calendar is `hallsvc.hours.WorkingDays` (C2a). No I/O and no clock reads
there: `now` is always an argument.

Around it: `record` and `store` (the record in PostgreSQL, C7), `assess` (a
recorded case at `now`, pure), `intake` and `service` (the lifecycle: C1,
C3, C3a, C4, C6, C8), `scheduler` (the warnings, C5), `notices` (the MQTT
message and SMS texts), `reports` (C9) and `documents` (C7). See
docs/cases.md.
"""
