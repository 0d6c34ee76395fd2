"""A ticket by SMS (Q1): the gateway's webhook in, the reply out through the
outbound adapter, at least once, through a simulated gateway (firmware-sim/)."""

from __future__ import annotations

import sys
from typing import Any

from tests.conftest import REPO, SMS_KEY

sys.path.insert(0, str(REPO / "firmware-sim"))
from sms_gateway import SmsGateway


async def test_a_ticket_by_sms_is_answered_by_sms(make_hall: Any) -> None:
    gateway = SmsGateway(api_key=SMS_KEY)
    await gateway.start()
    try:
        async with make_hall(sms={"outbound_url": gateway.url + "/send"}) as h:
            gateway.hallsvc_url = h.running.url
            await h.client.issue("A01")  # someone is already waiting
            answer = await gateway.deliver("13800138000", "取号 a01", message_id="m-1")
            assert answer["ticket"] == "A002"
            assert answer["text"].startswith("您的号码A002")
            assert "前面还有1人" in answer["text"]
            sent = await gateway.wait_for(lambda m: m["to"] == "13800138000", timeout=10)
            assert sent["text"] == answer["text"]

            again = await gateway.deliver("13800138000", "取号 a01", message_id="m-1")
            assert again["ticket"] == "A002"  # a gateway retry is not a second ticket
            ticket = await h.running.hall.queue.ticket("A002", h.clock())
            assert (ticket.channel, ticket.phone) == ("sms", "13800138000")

            menu = await gateway.deliver("13900139000", "你好", message_id="m-2")
            assert menu["ticket"] is None and "A01 企业设立登记" in menu["text"]
    finally:
        await gateway.stop()


async def test_a_failing_gateway_gets_the_reply_later(make_hall: Any) -> None:
    gateway = SmsGateway(api_key=SMS_KEY)
    await gateway.start()
    try:
        async with make_hall(sms={"outbound_url": gateway.url + "/send"}) as h:
            gateway.hallsvc_url = h.running.url
            gateway.fail_next(2)  # the gateway is down for the first two attempts
            answer = await gateway.deliver("13700137000", "B01", message_id="m-9")
            sent = await gateway.wait_for(lambda m: m["to"] == "13700137000", timeout=20)
            assert sent["text"] == answer["text"] and "B001" in sent["text"]
    finally:
        await gateway.stop()
