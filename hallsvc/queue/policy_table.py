"""The hall file's `[policy]` table: the call-next policy's knobs (Q3, Q4, Q9). Pure.

    [policy]
    max_wait_minutes = 45              # Q3: the anti-starvation bound
    urgent_weight = 3.0                # Q4 急办: urgency grows 3× as fast …
    urgent_head_start_minutes = 40     #   … and starts 40 min ahead
    special_weight = 2.0               # Q4 elderly, sick, disabled
    special_head_start_minutes = 30
    green_weight = 2.0                 # Q4 green channel
    green_head_start_minutes = 30
    appointment_weight = 2.0           # Q7 from its slot on
    appointment_head_start_minutes = 30
    lookahead_weight = 1.0             # Q3: how much longer a head waits if left
    backlog_weight = 0.5               # Q3: the queue's drain time
    help_after_minutes = 5             # Q9: a head waiting longer = not kept short
    help_handicap_minutes = 10         # Q9: a helped queue ranks this much below own ones

The other two parameters come from elsewhere in the file, so that each value
is said once: `swamped_threshold` is `[thresholds].swamped_waiting` (Q9), and
`default_service_s` (used only before a service's time is known) is the mean
of the services' `average_minutes`. docs/queue-policy.md has the formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated

import msgspec

from hallsvc.queue.policy import PolicyParams

Minutes = Annotated[int, msgspec.Meta(ge=0, le=480)]
Weight = Annotated[float, msgspec.Meta(ge=0, le=100)]
# Q4: a priority class never ranks below a normal ticket with the same wait.
ClassWeight = Annotated[float, msgspec.Meta(ge=1, le=100)]


class PolicyTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_wait_minutes: Annotated[int, msgspec.Meta(ge=1, le=480)] = 45
    urgent_weight: ClassWeight = 3.0
    urgent_head_start_minutes: Minutes = 40
    special_weight: ClassWeight = 2.0
    special_head_start_minutes: Minutes = 30
    green_weight: ClassWeight = 2.0
    green_head_start_minutes: Minutes = 30
    appointment_weight: ClassWeight = 2.0
    appointment_head_start_minutes: Minutes = 30
    lookahead_weight: Weight = 1.0
    backlog_weight: Weight = 0.5
    help_after_minutes: Minutes = 5
    help_handicap_minutes: Minutes = 10


def check(table: PolicyTable) -> Iterator[tuple[str, str]]:
    """What the types cannot say: Q9's help must be able to come before the
    Q3 bound takes over, or the proxy window would never help a swamped queue
    by its own rule."""
    if table.help_after_minutes >= table.max_wait_minutes:
        yield ("policy.help_after_minutes",
               f"{table.help_after_minutes} is not below max_wait_minutes "
               f"({table.max_wait_minutes}): help (Q9) would only come after the bound (Q3)")


def params_of(table: PolicyTable, swamped_waiting: int,
              average_minutes: Iterable[float]) -> PolicyParams:
    """The policy's parameters as the hall file says them (seconds inside)."""
    means = list(average_minutes)
    default_s = round(60 * sum(means) / len(means)) if means else 600
    return PolicyParams(
        max_wait_s=table.max_wait_minutes * 60,
        urgent_weight=table.urgent_weight,
        special_weight=table.special_weight,
        green_weight=table.green_weight,
        appointment_weight=table.appointment_weight,
        urgent_head_start_s=table.urgent_head_start_minutes * 60,
        special_head_start_s=table.special_head_start_minutes * 60,
        green_head_start_s=table.green_head_start_minutes * 60,
        appointment_head_start_s=table.appointment_head_start_minutes * 60,
        lookahead_weight=table.lookahead_weight,
        backlog_weight=table.backlog_weight,
        swamped_threshold=swamped_waiting,
        help_after_s=table.help_after_minutes * 60,
        help_handicap_s=table.help_handicap_minutes * 60,
        default_service_s=max(1, default_s),
    )
