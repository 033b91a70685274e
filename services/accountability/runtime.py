"""The running service: engine, producer, consumer loop, outbox dispatcher, evaluator - started and stopped together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability import digest, evidence, metrics, theme_process
from services.accountability.consumer import FeedbackConsumer
from services.accountability.delivery import Dispatcher, prune_delivered
from services.accountability.migrate import upgrade
from services.accountability.ownership import seed
from services.accountability.privacy import expire_text
from services.accountability.scorecard import WINDOWS, journey_view, teams_resolutions
from services.accountability.service import BatchOutcome, Clock, housekeeping, system_clock
from services.accountability.settings import AccountabilitySettings
from services.accountability.theme_process import ThemeRun
from shared.db import STORE_CACHE_KIB, checkpoint, database_reachable, make_engine
from shared.http import ReadinessCheck
from shared.journey import JourneyMap, load_journey_map
from shared.kafka import ConsumerLoop, broker_reachable, ensure_topics, make_consumer, make_producer
from shared.wiring import all_ready

log = logging.getLogger(__name__)
GROUP = "accountability"


class Runtime:
    def __init__(
        self, settings: AccountabilitySettings, *, clock: Clock | None = None, engine: Engine | None = None
    ) -> None:
        settings.check()
        self.settings = settings
        self.clock: Clock = clock or system_clock
        self.journey: JourneyMap = load_journey_map(settings.journey_map)
        self.engine = engine or make_engine(settings.database_url)
        # The consumer stores the stream through a connection of its own with a larger page cache (SQLite; on
        # PostgreSQL the server keeps the cache and one pool serves both). Its commits never checkpoint the WAL:
        # the checkpoint job does, beside it (`checkpoint_wal`).
        self.store_engine = (
            make_engine(
                settings.database_url, cache_kib=STORE_CACHE_KIB, checkpoints=False, pool_size=1, max_overflow=1
            )
            if engine is None and self.engine.dialect.name == "sqlite"
            else self.engine
        )
        self.topics = settings.topics
        self.group = self.topics.group(GROUP)
        kafka = settings.kafka
        self.producer = make_producer(kafka, client_id="accountability")
        self.consumer = make_consumer(
            kafka, group=self.group, topics=[self.topics.classified], client_id="accountability"
        )
        self.dispatcher = Dispatcher(engine=self.engine, producer=self.producer, settings=settings, clock=self.clock)
        self.handler = FeedbackConsumer(
            engine=self.store_engine,
            producer=self.producer,
            journey=self.journey,
            topics=self.topics,
            group=self.group,
            clock=self.clock,
            on_stored=self.dispatcher.notify,
            window_refresh=timedelta(seconds=settings.alert_window_refresh_s),
        )
        self.loop = ConsumerLoop(
            self.consumer,
            self.handler.handle,
            group=self.group,
            max_records=settings.max_batch,
            min_poll_interval_ms=kafka.poll_interval_ms,
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self.settings.run_migrations:
            await asyncio.to_thread(upgrade, self.engine)
        await asyncio.to_thread(self._seed)
        metrics.init_metrics(self.journey)
        await ensure_topics(
            self.settings.kafka, [self.topics.classified, self.topics.dlq, self.topics.alerts, self.topics.corrections]
        )
        await self.producer.start()
        await self.consumer.start()
        self.loop.start()
        self.dispatcher.start()
        self._tasks = [
            asyncio.create_task(
                self._every(self.settings.evaluate_interval_s, self.evaluate_once), name="alert-evaluator"
            ),
            asyncio.create_task(
                self._every(self.settings.gauges_interval_s, self.refresh_gauges), name="scorecard-gauges"
            ),
            asyncio.create_task(self._themes_loop(), name="themes"),
        ]
        if self.store_engine is not self.engine:
            self._tasks.append(
                asyncio.create_task(
                    self._every(self.settings.checkpoint_interval_s, self.checkpoint_wal), name="sqlite-checkpoint"
                )
            )
        if self.settings.digest_enabled:
            self._tasks.append(
                asyncio.create_task(
                    self._every(self.settings.digest_check_interval_s, self.send_digests), name="weekly-digests"
                )
            )
        log.info("accountability started", extra={"group": self.group, "topic": self.topics.classified})

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.loop.stop()
        await self.dispatcher.stop()
        await self.producer.stop()
        self.engine.dispose()
        self.store_engine.dispose()

    def _seed(self) -> None:
        with Session(self.engine) as session:
            seed(session=session, journey=self.journey, now=self.clock())
            session.commit()

    async def _every(self, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be down; the next round retries
                log.exception("periodic job failed", extra={"job": getattr(job, "__name__", "?")})
            await asyncio.sleep(interval)

    async def checkpoint_wal(self) -> None:
        """SQLite: copy what the WAL holds back into the database file, beside the store's commits. At 2,000 events/s
        a commit that checkpointed by itself took ~140 ms (an idle machine) every few seconds, and every item
        waiting to be stored waited for it; a passive checkpoint in another connection stops no writer."""
        found = await asyncio.to_thread(checkpoint, self.engine)
        if found is not None and found[0]:
            log.info("checkpoint did not finish", extra={"wal_pages": found[1], "copied": found[2]})

    async def evaluate_once(self) -> int:
        """Auto-resolve, escalate and queue their deliveries, then refresh window alerts' evidence when due; returns
        the number of transitions."""
        outcome = await asyncio.to_thread(self._housekeeping)
        for stage, rule, transition in outcome.transitions:
            metrics.ALERTS.labels(stage, rule, transition).inc()
        if outcome.outbox_rows:
            self.dispatcher.notify()
        await asyncio.to_thread(evidence.refresh_due, engine=self.engine, journey=self.journey, now=self.clock())
        return len(outcome.transitions)

    def _housekeeping(self) -> BatchOutcome:
        with Session(self.engine, expire_on_commit=False) as session:
            outcome = housekeeping(
                session=session,
                journey=self.journey,
                now=self.clock(),
                auto_resolve_after=timedelta(seconds=self.settings.auto_resolve_after_s),
                escalate_after=timedelta(seconds=self.settings.escalate_after_s),
                alerts_topic=self.topics.alerts,
                verify_after=(
                    timedelta(seconds=self.settings.verify_after_s) if self.settings.verify_after_s else None
                ),
                silence_remind_after=(
                    timedelta(seconds=self.settings.silence_remind_after_s)
                    if self.settings.silence_remind_after_s
                    else None
                ),
            )
            prune_delivered(session=session, before=self.clock() - timedelta(seconds=self.settings.outbox_retention_s))
            if self.settings.text_retention_days is not None:
                expire_text(
                    session=session, older_than=timedelta(days=self.settings.text_retention_days), now=self.clock()
                )
            session.commit()
            return outcome

    async def _themes_loop(self) -> None:
        """The theme job starts one interval after start-up, then runs every interval."""
        await asyncio.sleep(self.settings.themes_interval_s)
        await self._every(self.settings.themes_interval_s, self.refresh_themes)

    async def refresh_themes(self) -> ThemeRun:
        """Count newly stored items into their themes, re-rank them, apply `emerging_theme` rules: in a process of
        its own (theme_process), so that its work does not hold the interpreter the store needs."""
        outcome = await theme_process.run(
            database_url=self.settings.database_url,
            journey_map=self.settings.journey_map,
            alerts_topic=self.topics.alerts,
            now=self.clock(),
            settle=timedelta(seconds=self.settings.themes_settle_s),
            nice=self.settings.themes_nice,
            write_share=self.settings.themes_write_share,
        )
        for stage, rule, transition in outcome.transitions:
            metrics.ALERTS.labels(stage, rule, transition).inc()
        if outcome.outbox_rows:
            self.dispatcher.notify()
        log.info(
            "themes counted and ranked",
            extra={"counted": outcome.counted, "snapshots": outcome.snapshots, "peak_rss_mib": outcome.peak_rss_mib},
        )
        return outcome

    async def send_digests(self, *, force: bool = False, only: str | None = None) -> dict[str, int]:
        """Queue this week's digests once their time has come (or now, with `force`); rows added per audience."""
        added = await asyncio.to_thread(self._send_digests, force, only)
        if any(added.values()):
            self.dispatcher.notify()
        return added

    def _send_digests(self, force: bool, only: str | None) -> dict[str, int]:
        s, now = self.settings, self.clock()
        if not force and not digest.due(now, weekday=s.digest_weekday, hour=s.digest_hour, tz=s.digest_timezone):
            return {}
        with Session(self.engine, expire_on_commit=False) as session:
            added = digest.enqueue_digests(
                session=session,
                journey=self.journey,
                now=now,
                leadership_emails=s.digest_leadership_emails,
                leadership_slack=s.digest_leadership_slack,
                tz=s.digest_timezone,
                only=only,
                force=force,
            )
            session.commit()
            return added

    async def refresh_gauges(self) -> None:
        await asyncio.to_thread(self._refresh_gauges)

    def _refresh_gauges(self) -> None:
        now = self.clock()
        with Session(self.engine) as session:
            for window in WINDOWS:
                view = journey_view(session=session, journey=self.journey, window=window, now=now)
                metrics.export_view(view, info=window == "24h")
                teams = [team.id for team in self.journey.teams]
                found = teams_resolutions(session=session, journey=self.journey, teams=teams, window=window, now=now)
                for team_id, (_, figures) in found.items():
                    metrics.export_resolutions(metrics.TEAM_RESOLUTION, (team_id, window), figures)

    def checks(self) -> Mapping[str, ReadinessCheck]:
        return {"broker": self.broker_ready, "database": self.database_ready, "consumer": self.consumer_ready}

    async def ready(self) -> bool:
        return await all_ready(self.checks())

    async def broker_ready(self) -> bool:
        return await broker_reachable(self.producer)

    async def database_ready(self) -> bool:
        return await asyncio.to_thread(database_reachable, self.engine)

    async def consumer_ready(self) -> bool:
        """The loop runs and its last poll succeeded (a loop backing off is not ready), and the dispatcher runs."""
        return self.loop.alive and self.loop.healthy and self.dispatcher.alive
