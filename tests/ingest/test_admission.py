"""Fair admission (services/ingest/admission.py) and the publisher's reaction to a late acknowledgement: the parts
that keep one source's flood from turning into 503s for every source. tests/faults/test_flood_load.py proves the
whole under real load; these pin each rule down without a broker."""

from __future__ import annotations

import asyncio
from typing import Any

from services.ingest.admission import Admission
from services.ingest.intake import Record
from services.ingest.publisher import BrokerUnavailable, Publisher
from shared.settings import KafkaSettings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_source_with_nothing_waiting_is_admitted_even_over_the_budget() -> None:
    admission = Admission(ceiling=1000, floor=10, target=0.5, budget=10)
    admission.take("flood", 900)
    assert not admission.busy("quiet", 1) and not admission.busy("quiet", 500)
    assert admission.busy("flood", 1)  # over the spent budget and over its share of it


def test_a_source_is_refused_over_its_own_cap_whatever_the_budget() -> None:
    admission = Admission(ceiling=100, floor=10, target=0.5, budget=100)
    admission.take("a", 60)
    assert not admission.busy("a", 40) and admission.busy("a", 41)


def test_over_the_budget_only_a_source_beyond_its_fair_share_waits() -> None:
    admission = Admission(ceiling=10_000, floor=10, target=0.5, budget=1000)
    admission.take("flood", 950)
    admission.take("quiet", 3)
    assert admission.busy("flood", 100)  # 1053 > 1000 and 1050 > 1000 / 2
    assert not admission.busy("quiet", 100)  # 103 <= 1000 / 2: the quiet source is within its share
    admission.release("flood", 950)
    assert not admission.busy("flood", 100) and admission.total == 3


def test_late_acknowledgements_halve_the_budget_once_per_interval_and_prompt_ones_grow_it_back() -> None:
    clock = Clock()
    admission = Admission(ceiling=4000, floor=100, target=0.5, clock=clock, budget=4000)
    admission.observe(2.0, 500)
    assert admission.budget == 2000
    admission.observe(2.0, 500)  # the same slow moment: not cut again
    assert admission.budget == 2000
    clock.now += 0.6
    for _ in range(10):
        admission.observe(2.0, 500)
        clock.now += 0.6
    assert admission.budget == 100  # never below the floor
    admission.observe(0.1, 500)
    assert admission.budget == 150  # a tenth of what came back in time
    for _ in range(200):
        admission.observe(0.1, 1000)
    assert admission.budget == 4000  # never above the ceiling


def test_the_budget_starts_low() -> None:
    assert Admission(ceiling=10_000, floor=100, target=0.5).budget == 100
    assert Admission(ceiling=10_000, floor=100, target=0.5, start=1000).budget == 1000
    assert Admission(ceiling=5, floor=100, target=0.5, start=1000).budget == 5


async def test_a_request_over_its_share_waits_for_room_and_one_over_its_cap_is_refused_at_once() -> None:
    admission = Admission(ceiling=1000, floor=10, target=0.5, budget=600, max_wait=5.0)
    admission.take("bulk", 500)
    assert await admission.room("quiet", 1)  # nothing waiting: at once
    assert not await admission.room("bulk", 501)  # over its cap: refused without waiting
    waiting = asyncio.create_task(admission.room("bulk", 400))  # 900 > 600: waits
    await asyncio.sleep(0.05)
    assert not waiting.done()
    admission.release("bulk", 500)  # acknowledged: room
    assert await asyncio.wait_for(waiting, 1.0)


async def test_only_a_few_requests_of_a_source_wait_the_others_are_refused_at_once() -> None:
    admission = Admission(ceiling=10_000, floor=10, target=0.5, budget=600, max_wait=5.0, max_waiters=2)
    admission.take("flood", 500)
    waiting = [asyncio.create_task(admission.room("flood", 400)) for _ in range(2)]
    await asyncio.sleep(0.05)
    assert not await admission.room("flood", 400)  # a third: refused without waiting
    assert admission.waiters == {"flood": 2}
    admission.release("flood", 500)
    assert await asyncio.wait_for(asyncio.gather(*waiting), 1.0) == [True, True]  # 400 each fits the share of 600
    assert admission.waiters == {"flood": 0}


async def test_a_request_waiting_for_room_is_refused_when_its_wait_ends() -> None:
    admission = Admission(ceiling=1000, floor=10, target=0.5, budget=600, max_wait=0.05)
    admission.take("bulk", 500)
    assert not await admission.room("bulk", 400)


class NeverAcks:
    """A producer whose sends are queued and never acknowledged (a broker busy with someone else's records)."""

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, **_: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


async def test_a_late_acknowledgement_is_a_503_for_that_request_but_does_not_mark_the_broker_down() -> None:
    publisher = Publisher(
        KafkaSettings(bootstrap_servers="127.0.0.1:9"), topic="t", timeout=0.05, linger_ms=0, probe_interval=60
    )
    publisher.producer = NeverAcks()  # type: ignore[assignment]
    publisher.up = True
    record = Record(0, None, "id-1", "chat", b"k", [], b"{}")
    try:
        await publisher.publish([record])
    except BrokerUnavailable as exc:
        assert exc.acked == []
    else:
        raise AssertionError("a publish that is never acknowledged must raise BrokerUnavailable")
    # Other sources' requests are still tried: only the watcher's probe, woken at once, may mark the broker down.
    assert publisher.up
    assert publisher._probe_now.is_set()
