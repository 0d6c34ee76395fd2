"""Voice callers on the real broker (Q6, issue 5 points 3 and 7): a caller
that hangs mid-sentence is not waited for past its time, and, where
espeak-ng is installed, the simulated caller writes each announcement as
audio."""

from __future__ import annotations

import shutil
import sys
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Clock
from tests.device_kit import bus_of, connected, idle, shanghai, until

sys.path.insert(0, str(REPO / "firmware-sim"))
from caller import VoiceCaller

pytestmark = pytest.mark.timeout(60)


class HangsOnce(VoiceCaller):
    """Its voice hangs after starting the first announcement: `started` is
    reported, `finished` never is (the next ones are spoken as usual)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.hung: str | None = None

    async def _report(self, ident: str, event: str) -> None:
        if event == "finished" and self.hung in (None, ident):
            self.hung = ident
            return
        await super()._report(ident, event)


async def test_a_caller_hung_mid_sentence_is_given_up_after_its_time_and_the_next_is_said(
        make_hall: Callable[..., Any], hall_id: str) -> None:
    clock = Clock(shanghai(9, 9))
    # Taken for dead once started and not finished within 1 s + 0.1 s a character.
    rules = {"caller": {"speak_base_seconds": 1.0, "speak_per_char_seconds": 0.1}}
    async with make_hall(clock=clock, device_bus=rules) as h:
        url = h.servers.mqtt_url
        bus = await connected(h)
        async with HangsOnce(hall_id, "CALLER-1", url, chars_per_second=200) as caller:
            t1 = await h.client.login("clerk1", "W01")
            t2 = await h.client.login("clerk2", "W02")
            await h.client.issue("A01")
            await h.client.issue("A01")
            await h.client.press(t1, "W01", "call-next")  # A001
            await h.client.press(t2, "W02", "call-next")  # A002, queued behind it
            await caller.wait_for(lambda: caller.hung is not None)
            assert bus_of(h).hub is not None
            await until(lambda: bus.hub and bus.hub.caller_status()["CALLER-1"][2] == 1,
                        what="A002 waits behind the hung A001")
            # Within its time (the hall's clock has not moved) the hub waits:
            # Q6, never two at once.
            with pytest.raises(TimeoutError):
                await caller.wait_for(lambda: len(caller.spoken) > 1, timeout=1.0)
            clock.advance(seconds=3)  # past 1 s + 0.1 s × 13 characters
            await caller.wait_for(lambda: len(caller.spoken) == 2, timeout=5)
            await until(lambda: idle(h), what="the caller's queue is empty")
            assert [s[1] for s in caller.spoken] == ["请A001号到1号窗口办理",
                                                      "请A002号到2号窗口办理"]
            outcomes = await until(lambda: _outcomes(h, 2), what="both outcomes recorded")
            assert outcomes == {"A001": "abandoned", "A002": "finished"}


async def _outcomes(h: Any, count: int) -> dict[str, str] | None:
    rows = await bus_of(h).store.sql.fetch(
        "SELECT ticket, outcome FROM announcements WHERE hall_id = $1", h.cfg.hall.id)
    return {r["ticket"]: r["outcome"] for r in rows} if len(rows) == count else None


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
async def test_the_simulated_caller_writes_each_announcement_as_audio(
        make_hall: Callable[..., Any], hall_id: str, tmp_path: Path) -> None:
    async with make_hall() as h:
        await connected(h)
        async with VoiceCaller(hall_id, "CALLER-1", h.servers.mqtt_url, chars_per_second=200,
                               wav_dir=tmp_path) as caller:
            token = await h.client.login("clerk1", "W01")
            await h.client.issue("A01")
            await h.client.press(token, "W01", "call-next")
            await caller.wait_for(lambda: len(caller.spoken) == 1, timeout=10)
        ident = caller.spoken[0][0]
        with wave.open(str(tmp_path / f"{ident}.wav"), "rb") as audio:
            seconds = audio.getnframes() / audio.getframerate()
        assert 1.0 < seconds < 15.0  # "请A001号到1号窗口办理", spoken
