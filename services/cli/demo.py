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
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

# (name, channel): the demo's integrating tools, each with its own API key when it can create them.
SOURCES = (
    ("demo-callcentre", "call", 30),
    ("demo-webchat", "chat", 18),
    ("demo-social", "social", 16),
    ("demo-appstore", "review", 12),
    ("demo-survey", "survey", 14),
    ("demo-email", "email", 10),
)
STAGE_WEIGHTS = {"discover": 8, "buy": 12, "onboard": 14, "use": 24, "pay": 16, "get_help": 18, "leave": 8}
# Texts per stage: negative, positive, neutral. {n}, {days}, {amount} are filled in at random.
TEXTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "discover": (
        ("The website never says which plan includes roaming, I gave up looking",
         "Your TV ad promised a discount that's nowhere on the site",
         "Price comparison page is a mess, no idea which package I'd need",
         "asked in the shop about plans and got three different answers"),
        ("Really clear pricing page, compared the plans in two minutes",
         "The newsletter deal was genuinely good, thanks"),
        ("Do the premium plans come with a family option?", "Where can I find the full list of plan features?"),
    ),
    "buy": (
        ("Checkout failed {n} times at the payment step, bought elsewhere in the end",
         "order placed twice by your site and now I have two contracts",
         "The sign up form rejects my postcode, cannot register",
         "Quote went up by £{amount} between the page and the basket"),
        ("Ordering was quick and easy, done in five minutes", "Smooth sign up, the online form just worked"),
        ("Can I change the delivery address on an order I placed today?",),
    ),
    "onboard": (
        ("Parcel still not delivered after {days} days, tracking hasn't moved",
         "Engineer never turned up for the installation, took a day off for nothing",
         "new SIM won't activate, been {days} days without a phone",
         "router arrived with no login details and set up instructions are useless"),
        ("Engineer was on time and the install took 20 minutes, great", "SIM activated instantly, easy set up"),
        ("When will the welcome pack arrive?",),
    ),
    "use": (
        ("App crashes every time I open my statement since the last update",
         "No signal at home for {days} days, can't make calls",
         "internet keeps dropping every evening, completely unusable",
         "outage again this morning, second time this week"),
        ("Love the new app update, so much faster now", "Coverage is excellent even in the countryside"),
        ("Is there a dark mode in the app?", "How do I turn on wifi calling?"),
    ),
    "pay": (
        ("I've been charged twice this month and nobody can explain why",
         "Still waiting for my refund of £{amount}, it's been {days} days",
         "Direct debit taken on the wrong date again, now I'm overdrawn",
         "Overcharged £{amount} on my bill, absolutely ridiculous",
         "invoice doesn't match the price I was quoted, disgraceful"),
        ("Refund arrived in two days, thank you", "Bill is clear and exactly what I expected"),
        ("Can I change the date my direct debit is taken?", "Where do I download last month's invoice?"),
    ),
    "get_help": (
        ("On hold for {n}0 minutes then got cut off",
         "The chatbot is useless, I just want to talk to a human",
         "Promised a call back three times, never happened",
         "transferred {n} times, nobody could help, very frustrated"),
        ("Agent was really helpful and sorted it in minutes, thank you", "Support chat answered straight away, brilliant"),
        ("What are your helpline opening hours?",),
    ),
    "leave": (
        ("Trying to cancel my contract and you keep making it impossible",
         "If this isn't fixed by Friday I'm switching to another provider",
         "Renewal price is double what I pay now, I'll be leaving"),
        ("Cancellation was handled politely and quickly, thanks",),
        ("How do I close my account? Moving abroad", "When does my contract end?"),
    ),
}  # fmt: skip
CALL_CODES = {
    "pay": ("BILLING_QUERY", "Billing"),
    "leave": ("CANCEL_REQUEST", "Retention"),
    "onboard": ("DELIVERY_DELAY", "Deliveries"),
    "use": ("TECH_FAULT", "Tech Support"),
    "buy": ("NEW_ORDER", "Sales"),
}
INVALID = ({"scores": {"csat": 9}}, {"colour": "blue"}, {"occurred_at": "yesterday-ish"})


@dataclass
class Plan:
    """What to send: how many events, how fast, and when the bad stage goes bad."""

    total: int
    rate: float
    bad_stage: str | None
    incident: tuple[int, int]
    invalid_share: float
    customers: int
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def in_incident(self, seq: int) -> bool:
        return self.bad_stage is not None and self.incident[0] <= seq < self.incident[1]


class Traffic:
    """Builds one realistic event at a time (pure: no network), reproducible from a seed."""

    def __init__(self, plan: Plan, seed: int | None = None) -> None:
        self.plan, self.rng = plan, random.Random(seed)  # noqa: S311 - demo data, not security
        self.regulars = [f"CUS-{i:05d}" for i in range(max(1, plan.customers // 10))]
        self.everyone = [f"CUS-{i:05d}" for i in range(plan.customers)]

    def customer(self, stage: str) -> str:
        # A tenth of customers make a large share of contacts (and keep coming back to support).
        regular_odds = 0.6 if stage == "get_help" else 0.3
        return self.rng.choice(self.regulars if self.rng.random() < regular_odds else self.everyone)

    def stage(self, seq: int) -> str:
        weights = dict(STAGE_WEIGHTS)
        if self.plan.in_incident(seq) and self.plan.bad_stage in weights:
            weights[self.plan.bad_stage] *= 3
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def polarity(self, stage: str, seq: int) -> int:
        """0 negative, 1 positive, 2 neutral."""
        if self.plan.in_incident(seq) and stage == self.plan.bad_stage:
            return self.rng.choices((0, 1, 2), weights=(88, 4, 8))[0]
        return self.rng.choices((0, 1, 2), weights=(30, 40, 30))[0]

    def text(self, stage: str, polarity: int) -> str:
        template = self.rng.choice(TEXTS[stage][polarity])
        return template.format(n=self.rng.randint(2, 6), days=self.rng.randint(3, 21), amount=self.rng.randint(12, 180))

    def call_figures(self, polarity: int) -> dict[str, str]:
        """A call's wait, handle and hold seconds and transfers, as a call-centre platform reports them (unhappy
        callers waited longer and were passed on more often)."""
        unhappy = polarity == 0
        hold = 0 if self.rng.random() < 0.5 else self.rng.randint(10, 240 if unhappy else 90)
        return {
            "wait_seconds": str(round(self.rng.expovariate(1 / (240 if unhappy else 60)))),
            "handle_seconds": str(max(60, round(self.rng.gauss(540 if unhappy else 360, 120)))),
            "hold_seconds": str(hold),
            "transfers": str(self.rng.choices((0, 1, 2), weights=(55, 30, 15) if unhappy else (85, 12, 3))[0]),
        }

    def event(self, seq: int) -> tuple[str, dict[str, Any]]:
        """(source name, generic ingest payload) for the seq-th event of the run."""
        source, channel, _ = self.rng.choices(SOURCES, weights=[s[2] for s in SOURCES])[0]
        stage = self.stage(seq)
        polarity = self.polarity(stage, seq)
        text = self.text(stage, polarity)
        body: dict[str, Any] = {
            "external_id": f"{self.plan.run}-{seq}",
            "channel": channel,
            "customer_id": self.customer(stage),
            "metadata": {"region": self.rng.choice(("north", "south", "east", "west")), "product": "broadband"},
        }
        if stage == "buy" and self.rng.random() < 0.25:
            body.update(kind="journey_event", stage_hint="buy", text=None)
            body["metadata"]["event"] = "order_placed"
        elif channel == "call":
            body["kind"] = "contact"
            notes = text[0].lower() + text[1:]
            body["text"] = self.rng.choice(("cust rang re: ", "cust says ", "caller: ")) + notes
            if stage in CALL_CODES and self.rng.random() < 0.5:
                body["metadata"]["disposition"], body["metadata"]["queue"] = CALL_CODES[stage]
            body["metadata"].update(self.call_figures(polarity))
        elif channel == "social":
            body["text"] = f"@AcmeHelp {text}"
        elif channel == "review":
            body["scores"] = {"csat": (self.rng.randint(1, 2), self.rng.randint(4, 5), 3)[polarity]}
            body["text"] = text
        elif channel == "survey":
            nps = (self.rng.randint(0, 6), self.rng.randint(9, 10), self.rng.randint(7, 8))[polarity]
            csat = (self.rng.randint(1, 2), self.rng.randint(4, 5), 3)[polarity]
            ces = (self.rng.randint(5, 7), self.rng.randint(1, 2), self.rng.randint(3, 4))[polarity]
            body.update(kind="survey_response", text=text, scores={"nps": nps, "csat": csat, "ces": ces})
            if self.rng.random() < 0.5:
                body["stage_hint"] = stage
        else:
            body["text"] = text
        if self.rng.random() < self.plan.invalid_share:
            body.update(self.rng.choice(INVALID))  # an integration bug on the sender's side
        return source, body


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
