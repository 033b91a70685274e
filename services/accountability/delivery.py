"""Outbox delivery: signed webhooks, Slack-compatible webhooks, e-mail over SMTP and `cx.alerts` CloudEvents, with
back-off."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability.messages import (
    ID_NAMESPACE,
    SIGNATURE_HEADER,
    email_message,
    send_smtp,
    sign,
    slack_message,
)
from services.accountability.metrics import DELIVERIES
from services.accountability.models import OutboxEntry, columns
from services.accountability.receivers import UnsafeReceiver, pin
from services.accountability.rules import DeliveryStatus
from shared.cloudevents import CloudEvent, encode

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

    from services.accountability.settings import AccountabilitySettings

log = logging.getLogger(__name__)

EVENT_SOURCE = "journeyline/accountability"


def backoff_delay(attempts: int, base_s: float, cap_s: float) -> timedelta:
    """Exponential back-off after `attempts` failed attempts: base, 2x base, 4x base ... capped at `cap_s`."""
    return timedelta(seconds=min(base_s * (2 ** max(attempts - 1, 0)), cap_s))


def prune_delivered(*, session: Session, before: datetime) -> int:
    """Forget delivered (and dead) outbox rows older than `before`; returns how many."""
    o = columns(OutboxEntry)
    done = delete(OutboxEntry).where(
        o.status.in_((DeliveryStatus.delivered.value, DeliveryStatus.dead.value)), o.created_at < before
    )
    return int(getattr(session.execute(done), "rowcount", 0) or 0)


@dataclass
class Claimed:
    id: int
    dedupe_key: str
    alert_id: str | None
    team: str
    receiver: str
    target: str
    secret: str | None
    event_type: str
    payload: dict[str, Any]
    attempts: int


class Dispatcher:
    """Claims due outbox rows (a lease keeps two replicas from sending the same row), sends, records the result."""

    def __init__(
        self,
        *,
        engine: Engine,
        producer: AIOKafkaProducer,
        settings: AccountabilitySettings,
        clock: Callable[[], datetime],
        batch: int = 50,
    ) -> None:
        self.engine, self.producer, self.settings, self.clock, self.batch = engine, producer, settings, clock, batch
        # Redirects are not followed (a 3xx is a failed delivery): a receiver cannot send us somewhere else.
        self.http = httpx.AsyncClient(timeout=settings.delivery_timeout_s, follow_redirects=False)
        self.policy = settings.receiver_policy()
        self.running = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.running = True
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        self.running = False
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._task.cancel()
        await self.http.aclose()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def notify(self) -> None:
        """Wake the dispatcher now (safe from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while self.running:
            try:
                sent = await self.dispatch_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be down: log, keep the rows, try again later
                log.exception("outbox dispatch failed")
                sent = 0
            if sent == 0 and self.running:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.settings.outbox_poll_s)
                except TimeoutError:
                    pass
                self._wake.clear()

    async def dispatch_once(self) -> int:
        """Deliver what is due now; return how many rows were attempted."""
        now = self.clock()
        claimed = await asyncio.to_thread(self._claim, now)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._deliver(row) for row in claimed))
        await asyncio.to_thread(self._record, list(zip(claimed, results, strict=True)), self.clock())
        return len(claimed)

    def _claim(self, now: datetime) -> list[Claimed]:
        lease = now + timedelta(seconds=self.settings.outbox_lease_s)
        o = columns(OutboxEntry)
        free = or_(o.lease_until.is_(None), o.lease_until < now)
        with Session(self.engine) as session:
            due = (
                session.execute(
                    select(o.id)
                    .where(o.status == DeliveryStatus.pending.value, o.next_attempt_at <= now, free)
                    .order_by(o.id)
                    .limit(self.batch)
                )
                .scalars()
                .all()
            )
            claimed = []
            for row_id in self._first_in_line(session, list(due)):
                won = session.execute(update(OutboxEntry).where(o.id == row_id, free).values(lease_until=lease))
                if getattr(won, "rowcount", 0) == 1:
                    claimed.append(row_id)
            session.commit()
            rows = session.execute(select(OutboxEntry).where(o.id.in_(claimed)).order_by(o.id)).scalars().all()
            return [
                Claimed(
                    id=r.id or 0,
                    dedupe_key=r.dedupe_key,
                    alert_id=r.alert_id,
                    team=r.team,
                    receiver=r.receiver,
                    target=r.target,
                    secret=r.secret,
                    event_type=r.event_type,
                    payload=dict(r.payload),
                    attempts=r.attempts,
                )
                for r in rows
            ]

    @staticmethod
    def _first_in_line(session: Session, due: list[int]) -> list[int]:
        """Of the due rows, those with no earlier pending row for the same alert and receiver (keeps order)."""
        if not due:
            return []
        o = columns(OutboxEntry)
        rows = session.execute(
            select(o.id, o.alert_id, o.target).where(
                o.status == DeliveryStatus.pending.value,
                o.alert_id.in_(select(o.alert_id).where(o.id.in_(due), o.alert_id.is_not(None))),
            )
        ).all()
        first: dict[tuple[str, str], int] = {}
        for row_id, alert_id, target in sorted(rows):
            first.setdefault((alert_id, target), row_id)
        blocked = {row_id for row_id, alert_id, target in rows if first[(alert_id, target)] != row_id}
        return [row_id for row_id in due if row_id not in blocked]

    async def _deliver(self, row: Claimed) -> str | None:
        """Send one row; None on success, else why it failed."""
        try:
            if row.receiver == "kafka":
                event = CloudEvent(
                    id=str(uuid.uuid5(ID_NAMESPACE, row.dedupe_key)),
                    source=EVENT_SOURCE,
                    type=row.event_type,
                    data=row.payload,
                    time=self.clock(),
                    subject=row.alert_id or str(row.payload.get("id", "")),
                )
                ce_headers, value = encode(event)
                key = (row.alert_id or str(row.payload.get("id", ""))).encode()
                await self.producer.send_and_wait(row.target, value=value, key=key, headers=ce_headers)
                return None
            if row.receiver == "email":
                return await self._email(row)
            if row.receiver == "slack" and isinstance(row.payload.get("slack"), dict):
                body = orjson.dumps(row.payload["slack"])  # a digest: its Slack message is composed already
            else:
                body = orjson.dumps(slack_message(row.payload) if row.receiver == "slack" else row.payload)
            headers = {
                "Content-Type": "application/json",
                "X-Journeyline-Event": row.event_type,
                "X-Journeyline-Delivery": row.dedupe_key,
            }
            if row.secret and row.receiver == "webhook":
                headers[SIGNATURE_HEADER] = sign(row.secret, body)
            return await self._post(row.target, body, headers)
        except UnsafeReceiver as exc:
            return f"refused: {exc}"[:500]
        except TimeoutError:
            return f"TimeoutError: no answer within {self.settings.delivery_timeout_s:g}s"
        except (httpx.HTTPError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:  # a producer error (KafkaError, timeout): retry later like any other failure
            return f"{type(exc).__name__}: {exc}"[:500]

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str | None:
        """POST to the address checked just now (not a second lookup's), within one overall deadline, reading
        the status line and headers only: the receiver's body is never read."""
        target = await pin(url, self.policy)
        async with (
            asyncio.timeout(self.settings.delivery_timeout_s),
            self.http.stream(
                "POST",
                target.url,
                content=body,
                headers={**headers, "Host": target.host_header},
                extensions={"sni_hostname": target.server_name},
            ) as response,
        ):
            status = response.status_code
        return None if 200 <= status < 300 else f"HTTP {status}"

    async def _email(self, row: Claimed) -> str | None:
        """Send an e-mail row over SMTP (in a thread, within the SMTP timeout); None on success, else why not."""
        if not self.settings.smtp_host:
            return "refused: no SMTP server configured (ACCOUNTABILITY_SMTP_HOST)"
        message = email_message(row.payload, sender=self.settings.smtp_from, to=row.target, key=row.dedupe_key)
        deadline = self.settings.smtp_timeout_s * 3  # connect, STARTTLS/login, the message: each within the timeout
        async with asyncio.timeout(deadline):
            await asyncio.to_thread(send_smtp, self.settings, message)
        return None

    def _record(self, results: list[tuple[Claimed, str | None]], now: datetime) -> None:
        with Session(self.engine) as session:
            for row, error in results:
                entry = session.get(OutboxEntry, row.id)
                if entry is None:
                    continue
                entry.attempts += 1
                entry.lease_until = None
                if error is None:
                    entry.status, entry.delivered_at, entry.last_error = DeliveryStatus.delivered.value, now, None
                    outcome = "delivered"
                else:
                    entry.last_error = error
                    if entry.attempts >= self.settings.outbox_max_attempts:
                        entry.status, outcome = DeliveryStatus.dead.value, "dead"
                    else:
                        delay = backoff_delay(
                            entry.attempts, self.settings.outbox_backoff_base_s, self.settings.outbox_backoff_max_s
                        )
                        entry.next_attempt_at, outcome = now + delay, "retry"
                    log.warning(
                        "delivery failed",
                        extra={
                            "outbox_id": row.id,
                            "team": row.team,
                            "receiver": row.receiver,
                            "attempt": entry.attempts,
                            "error": error,
                        },
                    )
                session.add(entry)
                DELIVERIES.labels(row.team, row.receiver, outcome).inc()
            session.commit()
