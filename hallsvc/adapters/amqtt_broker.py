"""The embedded MQTT broker's own process: amqtt 0.12.1 (pinned), with two
repairs, on uvloop. Run by hallsvc.adapters.embedded as

    python -m hallsvc.adapters.amqtt_broker CONFIG.json

The only module besides embedded.py that knows amqtt; nothing else imports it.

Why a broker of our own making rather than `amqtt.scripts.broker_script`
(issue 5: a call on the window board within 50 ms, p99):

- **A message goes only to the subscriptions its topic matches, found
  without a scan.** amqtt 0.12 tests every topic filter of every client
  against every message (`Broker._run_broadcast`: 400 filters for a hall of
  100 windows, with a debug-log call per filter). Here the filters are
  indexed: an exact filter is one dict lookup, and only the few wildcard
  filters (hallsvc's own) are matched.
- **A client is sent the retained messages of its own subscriptions only.**
  amqtt 0.12, on every CONNECT, sends the new client the retained messages
  of *every* client's subscriptions (`_handle_client_session` loops over all
  filters of the broker): a window board that reboots would be offered the
  states of every other board (Q6: it must show its own number), and the
  loop breaks ("dictionary changed size during iteration") when another
  client subscribes meanwhile.
- uvloop: less event-loop overhead per message.

TCP_NODELAY: asyncio and uvloop set it on every TCP connection they accept,
so the broker never holds small messages back (docs/mqtt.md).

Retained messages live in memory only: amqtt 0.12's persistence
(`amqtt.contrib.persistence.SessionDBPlugin`) needs SQLAlchemy and writes to
SQLite on every retained message, in the message's path. It is not needed:
hallsvc publishes every board and pad state again, retained, whenever its
connection to the broker is new (hallsvc.devicebus.service), and every
device publishes its own `online` flag again when it reconnects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import uvloop
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.mqtt.constants import QOS_1, QOS_2
from amqtt.session import Session

from hallsvc.adapters.broker_config import add_user

log = logging.getLogger("hallsvc.broker")
_Subscribers = list[tuple[Session, int]]


def is_wildcard(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


class FilterIndex(dict[str, _Subscribers]):
    """amqtt's `topic filter -> [(session, qos)]`, which also knows its
    wildcard filters (the keys are changed only by item assignment, `del`
    and `clear` in amqtt 0.12.1)."""

    def __init__(self) -> None:
        super().__init__()
        self.wildcards: dict[str, None] = {}  # an ordered set

    def __setitem__(self, key: str, value: _Subscribers) -> None:
        super().__setitem__(key, value)
        if is_wildcard(key):
            self.wildcards[key] = None

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.wildcards.pop(key, None)

    def clear(self) -> None:
        super().clear()
        self.wildcards.clear()

    def matching(self, topic: str, matches: Any) -> list[str]:
        """The filters `topic` matches: its exact one, and the wildcards
        that `matches(topic, filter)` accepts."""
        found = [f for f in self.wildcards if matches(topic, f)]
        if topic in self:
            found.append(topic)
        return found


class HallBroker(Broker):  # type: ignore[misc]  # amqtt has no type hints
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._subscriptions: FilterIndex = FilterIndex()

    async def _run_broadcast(self, running_tasks: Any) -> None:
        """amqtt 0.12.1's `_run_broadcast`, with the filters found through
        the index instead of by testing every one."""
        broadcast = await self._broadcast_queue.get()
        topic = broadcast["topic"]
        for topic_filter in self._subscriptions.matching(topic, self._matches):
            for target, sub_qos in list(self._subscriptions.get(topic_filter, ())):
                qos = broadcast.get("qos", sub_qos)
                if not await self._topic_filtering(target, topic=topic, action=Action.RECEIVE):
                    continue
                connected = target.transitions.state == "connected"
                if not connected:
                    # As amqtt: kept for a persistent, authenticated session
                    # (MQTT 3.1.2.4), dropped for any other that is away.
                    if not target.clean_session and qos in (QOS_1, QOS_2) \
                            and not target.is_anonymous:
                        await self._retain_broadcast_message(broadcast, qos, target)
                    continue
                handler = self._get_handler(target)
                if handler is not None:
                    running_tasks.append(asyncio.ensure_future(
                        handler.mqtt_publish(topic, broadcast["data"], qos, retain=False)))

    async def _publish_retained_messages_for_subscription(
            self, subscription: tuple[str, int], session: Session) -> None:
        """Only for a filter `session` itself holds (see the module's doc)."""
        topic_filter, qos = subscription
        holders = self._subscriptions.get(topic_filter, ())
        if not any(s.client_id == session.client_id for s, _ in holders):
            return
        if is_wildcard(topic_filter):
            retained = [m for t, m in list(self._retained_messages.items())
                        if self._matches(t, topic_filter)]
        else:
            one = self._retained_messages.get(topic_filter)
            retained = [one] if one is not None else []
        handler = self._get_handler(session)
        if handler is None or not retained:
            return
        await asyncio.wait([asyncio.ensure_future(handler.mqtt_publish(
            m.topic, m.data, min(qos, m.qos or qos), retain=True)) for m in retained])


async def serve(config: dict[str, Any]) -> None:
    broker = HallBroker(config)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await broker.shutdown()


USAGE = """usage: python -m hallsvc.adapters.amqtt_broker CONFIG.json
       python -m hallsvc.adapters.amqtt_broker passwd STATE/mqtt.passwd USER  (password on stdin)"""


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "passwd":
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            print("no password on stdin", file=sys.stderr)
            return 2
        add_user(Path(argv[1]), argv[2], password)
        return 0
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))  # amqtt's config, as JSON
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(name)s %(levelname)s "
                        "%(message)s")
    uvloop.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
