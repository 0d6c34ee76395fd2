"""The service-time averages a process keeps (Q1, Q3): a copy read before a
finish never replaces what the finish returned. Pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hallsvc.queue.load import newest

SERVICES = st.sampled_from(["A01", "A02", "B01"])
AVERAGES = st.dictionaries(SERVICES, st.tuples(st.integers(0, 50), st.integers(1, 10**7)))


def test_an_older_reading_does_not_replace_a_finish() -> None:
    after_finish = {"A01": (7, 576_000)}
    reading = {"A01": (6, 600_000), "B01": (0, 360_000)}  # read before that finish
    assert newest(after_finish, reading) == {"A01": (7, 576_000), "B01": (0, 360_000)}
    later = {"A01": (9, 540_000)}  # other windows' finishes since
    assert newest(after_finish, later) == {"A01": (9, 540_000)}


@given(AVERAGES, AVERAGES)
def test_each_service_keeps_the_average_of_most_finishes(known: dict[str, tuple[int, int]],
                                                          offered: dict[str, tuple[int, int]]
                                                          ) -> None:
    got = newest(known, offered)
    assert set(got) == set(known) | set(offered)
    for s, (n, _) in got.items():
        assert n == max(x[s][0] for x in (known, offered) if s in x)
