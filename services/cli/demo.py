"""`journeyline demo`: realistic customer feedback posted to ingest, so the dashboards and alerts come alive.

Several sources (call centre, web chat, social, app reviews, surveys, email), customers who come back, texts
for every stage of the journey, and one stage that goes bad for a while (negative share jumps, an alert opens;
with an operator token the "team" acknowledges it). A few deliberately invalid events show up as rejections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.traffic import SOURCES, Plan, Traffic


@dataclass
class Counts:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    errors: int = 0
    acked: int = 0
    seconds: float = 0.0  # time spent sending, for the rate shown


class Sender:
    """Posts batches to ingest, retrying 429/503/connection errors with the same event (same external id)."""

    def __init__(self, client: httpx.AsyncClient, url: str, keys: dict[str, str], counts: Counts) -> None:
        self.client, self.url, self.keys, self.counts = client, url.rstrip("/") + "/v1/events", keys, counts
        self.fatal: str | None = None

    def key_for(self, source: str) -> str:
        return self.keys.get(source) or self.keys["*"]

    async def post(self, source: str, events: list[dict[str, Any]]) -> None:
        body: Any = events[0] if len(events) == 1 else events
        headers = {"X-API-Key": self.key_for(source)}
        for attempt in range(8):
            try:
                resp = await self.client.post(self.url, json=body, headers=headers, params={"adapter": "generic"})
            except httpx.HTTPError:
                self.counts.errors += 1
                await asyncio.sleep(min(0.2 * 2**attempt, 5))
                continue
            if resp.status_code in (429, 503) or (resp.status_code == 401 and attempt < 3):
                self.counts.retried += 1
                retry_after = resp.headers.get("retry-after", "")
                await asyncio.sleep(float(retry_after) if retry_after.isdigit() else 0.5)
                continue
            self._tally(resp, len(events))
            return
        self.counts.errors += len(events)

    def _tally(self, resp: httpx.Response, n: int) -> None:
        self.counts.sent += n
        if resp.status_code == 202:
            self.counts.accepted += n
        elif resp.status_code == 207:
            data = resp.json()
            self.counts.accepted += int(data.get("accepted", 0))
            self.counts.rejected += int(data.get("rejected", 0))
        elif resp.status_code in (400, 413, 422):
            self.counts.rejected += n
        elif resp.status_code in (401, 403):
            self.fatal = f"ingest refused the API key ({resp.status_code}): {resp.text[:200]}"
        else:
            self.counts.errors += n


def _make_keys(args: argparse.Namespace) -> dict[str, str]:
    """Source name -> API key; '*' when one key (--api-key) serves every event."""
    if args.api_key:
        return {"*": args.api_key}
    if args.admin_token:
        keys, auth = {}, {"Authorization": f"Bearer {args.admin_token}"}
        with httpx.Client(base_url=args.url, headers=auth, timeout=10.0) as client:
            for name, channel, _ in SOURCES:
                resp = client.post("/v1/sources", json={"name": name, "channel": channel, "adapter": "generic"})
                if resp.status_code == 409:
                    resp = client.post(f"/v1/sources/{name}/rotate")
                if resp.status_code not in (200, 201):
                    raise SystemExit(
                        f"journeyline demo: could not create source {name}: {resp.status_code} {resp.text[:200]}"
                    )
                keys[name] = resp.json()["api_key"]
        return keys
    keys = {}
    for name, channel, _ in SOURCES:
        key = _cli_key(name, channel)
        if key is None:
            raise SystemExit(
                "journeyline demo: no API key. Pass --api-key (or JOURNEYLINE_API_KEY; `journeyline dev` prints one), "
                "or --admin-token (INGEST_ADMIN_TOKEN) so the demo can create its own sources."
            )
        keys[name] = key
    return keys


def _cli_key(name: str, channel: str) -> str | None:
    """Create (or rotate) a source with `journeyline sources`, which writes to the same DATABASE_URL as ingest."""
    base = [sys.executable, "-m", "services.cli.main", "sources"]
    for cmd in (base + ["add", name, "--channel", channel], base + ["rotate", name]):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            lines = done.stdout.strip().splitlines()
            if done.returncode == 0 and lines:
                return lines[-1].strip()
    return None


async def _acknowledge(args: argparse.Namespace, counts: Counts, stop: asyncio.Event) -> None:
    """Play the owning team: acknowledge open alerts once they are --ack-after seconds old."""
    if not args.operator_token:
        return
    headers = {"Authorization": f"Bearer {args.operator_token}"}
    seen: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=args.accountability_url, headers=headers, timeout=5.0) as client:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
                resp = await client.get("/v1/alerts", params={"status": "open"})
                if resp.status_code == 200:
                    data = resp.json()
                    for alert in data if isinstance(data, list) else data.get("items", data.get("alerts", [])):
                        alert_id = str(alert["id"])
                        first = seen.setdefault(alert_id, time.monotonic())
                        if alert.get("status", "open") == "open" and time.monotonic() - first >= args.ack_after:
                            ack = await client.post(
                                f"/v1/alerts/{alert_id}/ack", json={"by": "journeyline-demo", "note": "looking into it"}
                            )
                            counts.acked += ack.status_code == 200
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)


def _progress(plan: Plan, counts: Counts, started: float, done: bool = False) -> None:
    share = counts.sent / plan.total if plan.total else 1.0
    bar = "#" * int(share * 30)
    elapsed = max(counts.seconds or time.monotonic() - started, 1e-6)
    incident = ""
    if plan.bad_stage:
        state = (
            "on"
            if plan.incident[0] <= counts.sent < plan.incident[1]
            else ("over" if counts.sent >= plan.incident[1] else "later")
        )
        incident = f"  incident on {plan.bad_stage}: {state}"
    line = (
        f"[{bar:<30}] {share:4.0%} {counts.sent}/{plan.total}  {counts.sent / elapsed:5.1f}/s  "
        f"accepted {counts.accepted}  rejected {counts.rejected}  retries {counts.retried}  acked {counts.acked}{incident}"
    )
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line + ("\n" if done else ""))
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def run_demo(args: argparse.Namespace, keys: dict[str, str], plan: Plan) -> Counts:
    counts, traffic, stop = Counts(), Traffic(plan, args.seed), asyncio.Event()
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
        sender = Sender(client, args.url, keys, counts)
        acker = asyncio.create_task(_acknowledge(args, counts, stop))
        pending: set[asyncio.Task[None]] = set()
        started, made, last_print = time.monotonic(), 0, 0.0
        print_every = 0.25 if sys.stderr.isatty() else 5.0
        while made < plan.total and sender.fatal is None:
            due = min(plan.total, int((time.monotonic() - started) * plan.rate) + 1)
            groups: dict[str, list[dict[str, Any]]] = {}
            while made < due:
                source, body = traffic.event(made)
                groups.setdefault(source if "*" not in keys else "*", []).append(body)
                made += 1
            for source, events in groups.items():
                for i in range(0, len(events), 100):
                    task = asyncio.create_task(sender.post(source, events[i : i + 100]))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
            if not args.quiet and time.monotonic() - last_print >= print_every:
                _progress(plan, counts, started)
                last_print = time.monotonic()
            await asyncio.sleep(0.05)
        if pending:
            await asyncio.gather(*pending)
        counts.seconds = time.monotonic() - started
        if args.operator_token and plan.bad_stage and sender.fatal is None:
            await asyncio.sleep(min(args.ack_after + 3, 10))  # give the team a moment to acknowledge
        stop.set()
        await acker
        if not args.quiet:
            _progress(plan, counts, started, done=True)
        if sender.fatal:
            raise SystemExit(f"journeyline demo: {sender.fatal}")
    return counts


def _main(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        raise SystemExit("journeyline demo: --rate must be positive")
    total = args.count if args.count is not None else max(1, int(args.rate * args.duration))
    bad = None if args.bad_stage in ("", "none") else args.bad_stage
    plan = Plan(
        total=total,
        rate=args.rate,
        bad_stage=bad,
        incident=(int(total * 0.25), int(total * 0.65)),
        invalid_share=args.invalid_share,
        customers=args.customers,
    )
    keys = _make_keys(args)
    how = "one key for every event" if "*" in keys else f"{len(keys)} sources"
    print(f"journeyline demo: {total} events at {args.rate:g}/s to {args.url} ({how}); run {plan.run}", flush=True)
    counts = asyncio.run(run_demo(args, keys, plan))
    print(
        f"journeyline demo: sent {counts.sent}, accepted {counts.accepted}, rejected {counts.rejected} "
        f"(about {args.invalid_share:.0%} are deliberately invalid), errors {counts.errors}, alerts acknowledged {counts.acked}",
        flush=True,
    )
    return 0 if counts.accepted else 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="post realistic customer feedback to ingest (dashboards, alerts)")
    p.add_argument(
        "--url", default=os.environ.get("JOURNEYLINE_INGEST_URL", "http://127.0.0.1:8001"), help="ingest base URL"
    )
    p.add_argument(
        "--api-key", default=os.environ.get("JOURNEYLINE_API_KEY"), help="one source's key (env JOURNEYLINE_API_KEY)"
    )
    p.add_argument(
        "--admin-token", default=os.environ.get("INGEST_ADMIN_TOKEN"), help="create the demo sources over the admin API"
    )
    p.add_argument("--rate", type=float, default=20.0, help="events per second (default 20)")
    p.add_argument("--duration", type=float, default=120.0, help="seconds to run (default 120)")
    p.add_argument("--count", type=int, default=None, help="send exactly this many events instead of --duration")
    p.add_argument(
        "--bad-stage", default="pay", help="stage that goes bad mid-run ('none' for a calm run; default pay)"
    )
    p.add_argument("--customers", type=int, default=300, help="distinct customers (a tenth of them come back often)")
    p.add_argument(
        "--invalid-share", type=float, default=0.02, help="share of deliberately invalid events (default 0.02)"
    )
    p.add_argument(
        "--accountability-url", default=os.environ.get("JOURNEYLINE_ACCOUNTABILITY_URL", "http://127.0.0.1:8003")
    )
    p.add_argument(
        "--operator-token",
        default=os.environ.get("ACCOUNTABILITY_OPERATOR_TOKEN"),
        help="acknowledge alerts as the team",
    )
    p.add_argument("--ack-after", type=float, default=5.0, help="seconds before the team acknowledges an alert")
    p.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_main)
