"""The demo's traffic, as a load generator: realistic customer feedback from several sources, customers who come
back, texts for every stage, and one stage that goes bad for a while. Pure: builds events, sends nothing."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

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
