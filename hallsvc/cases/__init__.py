"""Cases and their working-day time limits (C1–C9), built in issue 6.

The pure core: `model` (the timing facts of a case, values that check
themselves), `deadline` (when a case is due: C2, C3, C3a, C4) and `levels`
(green / yellow / red and the next instant a level changes: C5). The
calendar is `hallsvc.hours.WorkingDays` (C2a). No I/O and no clock reads
here: `now` is always an argument. See docs/cases.md.
"""
