"""The hostile-request corpus: raw HTTP requests a careless or malicious client might send.

Each case is sent byte for byte over a socket (so invalid UTF-8, NUL bytes, lying Content-Length and odd
headers reach the server as written). `{KEY}`, `{READ}` and `{OPERATOR}` in header values are replaced by the
test's ingest source key and the accountability tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

JSON = ("Content-Type", "application/json")
NDJSON = ("Content-Type", "application/x-ndjson")
FORM = ("Content-Type", "application/x-www-form-urlencoded")
KEY = ("X-API-Key", "{KEY}")
READ = ("Authorization", "Bearer {READ}")
OPERATOR = ("Authorization", "Bearer {OPERATOR}")
ADMIN = ("Authorization", "Bearer {ADMIN}")


@dataclass(frozen=True)
class Case:
    name: str
    target: str  # "ingest" or "accountability"
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    expect: tuple[int, ...] = ()  # the statuses allowed; empty means any 4xx
    # False only where the HTTP server (uvicorn) refuses the bytes before the application sees them.
    problem_json: bool = True
    content_length: str | None = None  # a lying Content-Length header instead of the real one
    xfail: str = ""  # a known bug in a service this suite does not own: the case is expected to fail, strictly
    notes: str = field(default="", compare=False)


def _j(value: object) -> bytes:
    return json.dumps(value).encode()


def _nested(depth: int) -> bytes:
    return b'{"text": "deep", "metadata": ' + b"[" * depth + b"]" * depth + b"}"


def _ingest(name: str, body: bytes, *expect: int, headers: tuple[tuple[str, str], ...] = (KEY, JSON),
            path: str = "/v1/events", method: str = "POST", **kw: object) -> Case:  # fmt: skip
    return Case(name, "ingest", method, path, headers, body, tuple(expect), **kw)  # type: ignore[arg-type]


def _acct(name: str, method: str, path: str, *expect: int, headers: tuple[tuple[str, str], ...] = (READ,),
          body: bytes = b"", **kw: object) -> Case:  # fmt: skip
    return Case(name, "accountability", method, path, headers, body, tuple(expect), **kw)  # type: ignore[arg-type]


GOOD = {"external_id": "hostile-good", "text": "The app keeps crashing"}

INGEST: list[Case] = [
    # Keys
    _ingest("no key", _j(GOOD), 401, headers=(JSON,)),
    # Signed vendor webhooks: an unknown source, a source without a vendor, no or a forged signature
    _ingest("hook for an unknown source", _j(GOOD), 404, headers=(JSON,), path="/v1/hooks/nobody"),
    _ingest("hook for a source with no vendor", _j(GOOD), 404, headers=(JSON,), path="/v1/hooks/faults"),
    _ingest("hook source name 1 KB", _j(GOOD), 404, headers=(JSON,), path="/v1/hooks/" + "s" * 1000),
    _ingest(
        "hook handshake for an unknown source",
        b"",
        404,
        headers=(),
        path="/v1/hooks/nobody?hub.mode=subscribe",
        method="GET",
    ),
    _ingest(
        "hook secrets without the admin token",
        _j({"vendor": "meta", "secrets": ["x" * 12]}),
        401,
        403,
        headers=(JSON,),
        path="/v1/sources/faults/hook",
        method="PUT",
    ),
    _ingest("unknown key", _j(GOOD), 401, headers=(("X-API-Key", "jl_not_a_key"), JSON)),
    _ingest("empty key", _j(GOOD), 401, headers=(("X-API-Key", ""), JSON)),
    _ingest("8 KB key", _j(GOOD), 401, headers=(("X-API-Key", "k" * 8000), JSON)),
    _ingest("key with latin-1 bytes", _j(GOOD), 401, headers=(("X-API-Key", "cl\u00e9\u00ff"), JSON)),
    _ingest("bearer instead of X-API-Key", _j(GOOD), 401, headers=(("Authorization", "Bearer {KEY}"), JSON)),
    _ingest("key with SQL", _j(GOOD), 401, headers=(("X-API-Key", "' OR 1=1 --"), JSON)),
    # Content types
    _ingest("no content type", _j(GOOD), 415, headers=(KEY,)),
    _ingest("text/plain", _j(GOOD), 415, headers=(KEY, ("Content-Type", "text/plain"))),
    _ingest("latin-1 charset", _j(GOOD), 415, headers=(KEY, ("Content-Type", "application/json; charset=latin-1"))),
    _ingest("multipart", b"--x\r\n\r\n--x--", 415, headers=(KEY, ("Content-Type", "multipart/form-data; boundary=x"))),
    # Forms are accepted (Twilio, Qualtrics callbacks), but not broken ones
    _ingest(
        "form percent-encoded invalid UTF-8",
        b"text=%ff%fe",
        400,
        422,
        headers=(KEY, FORM),
    ),
    _ingest("form raw invalid UTF-8", b"text=\xff\xfe", 400, 422, headers=(KEY, FORM)),
    _ingest("form with an unknown field", b"text=hi&is_admin=1", 422, headers=(KEY, FORM)),
    _ingest("form with scores as text", b"text=hi&scores=5", 422, headers=(KEY, FORM)),
    _ingest(
        "form of 10,000 fields", b"&".join(b"f%d=x" % i for i in range(10_000)), 400, 413, 422, headers=(KEY, FORM)
    ),
    _ingest("form with a foreign source", b"text=hi&source=someone-else", 403, 422, headers=(KEY, FORM)),
    _ingest("content type 4 KB long", _j(GOOD), 415, headers=(KEY, ("Content-Type", "application/" + "j" * 4000))),
    # Malformed and truncated JSON
    _ingest("empty body", b"", 400),
    _ingest("truncated object", b'{"external_id": "t1", "text": "the parcel nev', 400),
    _ingest("lone brace", b"{", 400),
    _ingest("truncated array", b'[{"text": "a"}, {"text": "b"', 400),
    _ingest("trailing comma", b'{"text": "a",}', 400),
    _ingest("single quotes", b"{'text': 'a'}", 400),
    _ingest("NaN literal", b'{"text": "a", "scores": {"csat": NaN}}', 400),
    _ingest("byte order mark", b'\xef\xbb\xbf{"text": "a"}', 400),
    _ingest("two documents", b'{"text": "a"}{"text": "b"}', 400),
    _ingest("raw NUL byte in a string", b'{"text": "a\x00b"}', 400),
    _ingest("raw NUL byte alone", b"\x00", 400),
    _ingest("invalid UTF-8", b'{"text": "caf\xe9 au lait"}', 400),
    _ingest("overlong UTF-8", b'{"text": "\xc0\xaf"}', 400),
    _ingest("UTF-16 body", '{"text": "a"}'.encode("utf-16"), 400),
    _ingest("unpaired surrogate escape", b'{"external_id": "s1", "text": "\\ud800"}', 400, 422),
    _ingest("deep nesting beyond the parser", _nested(5000), 400),
    _ingest("deep nesting within the parser", _nested(500), 422),
    # Wrong shapes and types
    _ingest("null", b"null", 422),
    _ingest("a string", b'"hello"', 422),
    _ingest("a number", b"42", 422),
    _ingest("true", b"true", 422),
    _ingest("empty array", b"[]", 422),
    _ingest("array of numbers", b"[1, 2, 3]", 422),
    _ingest("array of nulls", b"[null, null]", 422),
    _ingest("nested arrays", b"[[{}]]", 422),
    _ingest("text is a number", _j({"text": 123}), 422),
    _ingest("text is a list", _j({"text": ["a", "b"]}), 422),
    _ingest("text is an object", _j({"text": {"$gt": ""}}), 422),
    _ingest("external_id is a number", _j({"external_id": 5, "text": "a"}), 422),
    _ingest("external_id is blank", _j({"external_id": "   ", "text": "a"}), 422),
    _ingest("customer is a string", _j({"text": "a", "customer": "CUS-1"}), 422),
    _ingest("customer and customer_id", _j({"text": "a", "customer": {"id": "x"}, "customer_id": "y"}), 422),
    _ingest("scores is a list", _j({"text": "a", "scores": [5]}), 422),
    _ingest("csat out of range", _j({"text": "a", "scores": {"csat": 99}}), 422),
    _ingest("nps negative", _j({"text": "a", "scores": {"nps": -1}}), 422),
    _ingest("csat as words", _j({"text": "a", "scores": {"csat": "five"}}), 422),
    _ingest("csat 2**70", b'{"text": "a", "scores": {"csat": 1180591620717411303424}}', 400, 422),
    _ingest("number 1e999", b'{"text": "a", "scores": {"ces": 1e999}}', 400, 422),
    _ingest("unknown channel", _j({"text": "a", "channel": "carrier-pigeon"}), 422),
    _ingest("unknown kind", _j({"text": "a", "kind": "rumour"}), 422),
    _ingest("occurred_at not a date", _j({"text": "a", "occurred_at": "yesterday"}), 422),
    _ingest("occurred_at far future", _j({"text": "a", "occurred_at": "2999-01-01T00:00:00Z"}), 422),
    _ingest("occurred_at year 1", _j({"text": "a", "occurred_at": "0001-01-01T00:00:00Z"}), 422),
    _ingest("occurred_at a number", _j({"text": "a", "occurred_at": 10**20}), 422),
    _ingest("metadata values not strings", _j({"text": "a", "metadata": {"n": 1, "o": {"p": 2}}}), 422),
    _ingest("metadata 1,000 entries", _j({"text": "a", "metadata": {f"k{i}": "v" for i in range(1000)}}), 422),
    _ingest("metadata key 10 KB", _j({"text": "a", "metadata": {"k" * 10_000: "v"}}), 422),
    # Wrong or missing keys
    _ingest("id set by the client", _j({"id": "mine", "text": "a"}), 422),
    _ingest("received_at set by the client", _j({"received_at": "2024-01-01T00:00:00Z", "text": "a"}), 422),
    _ingest("unknown field", _j({"text": "a", "is_admin": True}), 422),
    _ingest("__proto__ field", _j({"text": "a", "__proto__": {"polluted": True}}), 422),
    _ingest("another source", _j({"text": "a", "source": "someone-else"}), 403),
    # Huge strings
    _ingest("text one over the limit", _j({"text": "x" * 10_001}), 422),
    _ingest("text of 4 MB", _j({"text": "x" * 4_000_000}), 422),
    _ingest("external_id of 100 KB", _j({"external_id": "e" * 100_000, "text": "a"}), 422),
    _ingest("stage_hint of 1 MB", _j({"text": "a", "stage_hint": "s" * 1_000_000}), 422),
    # Oversized batches and bodies
    _ingest("1,001 events", _j([{"text": "a"}] * 1001), 413),
    _ingest("body over 5 MiB", _j([{"text": "x" * 9000}] * 600), 413),
    _ingest("Content-Length claims 1 GB", b'{"text": "a"}', 413, content_length="1000000000"),
    # NDJSON
    _ingest("ndjson all lines broken", b"{\n{\n[\n", 422, headers=(KEY, NDJSON)),
    _ingest("ndjson blank", b"\n\n   \n", 422, headers=(KEY, NDJSON)),
    _ingest("ndjson invalid UTF-8", b'{"text": "\xff"}\n', 400, headers=(KEY, NDJSON)),
    # Adapters, methods, paths
    _ingest("unknown adapter parameter", _j(GOOD), 400, path="/v1/events?adapter=../../etc/passwd"),
    _ingest("unknown adapter header", _j(GOOD), 400, headers=(KEY, JSON, ("X-Journeyline-Adapter", "x" * 3000))),
    _ingest("vendor adapter given a string", b'"hello"', 422, path="/v1/events?adapter=review"),
    _ingest("GET on the events route", b"", 405, method="GET"),
    _ingest("DELETE on the events route", b"", 405, method="DELETE"),
    _ingest("unknown route", _j(GOOD), 404, path="/v1/../admin"),
    _ingest("sources admin without a token", b"", 401, 403, path="/v1/sources", method="GET", headers=()),
    _ingest(
        "sources admin with the source key",
        b"",
        401,
        403,
        path="/v1/sources",
        method="GET",
        headers=(("Authorization", "Bearer {KEY}"),),
    ),  # fmt: skip
    # Header abuse the HTTP server itself refuses (never reaches the application)
    _ingest("duplicate Content-Length", _j(GOOD), 400, problem_json=False, content_length="13\r\nContent-Length: 99"),
    _ingest("negative Content-Length", _j(GOOD), 400, problem_json=False, content_length="-5"),
    _ingest("Content-Length not a number", _j(GOOD), 400, problem_json=False, content_length="ten"),
]

ALERT = "00000000-0000-0000-0000-000000000000"

ACCOUNTABILITY: list[Case] = [
    # Tokens
    _acct("no token", "GET", "/v1/stages", 401, headers=()),
    _acct("empty bearer", "GET", "/v1/stages", 401, headers=(("Authorization", "Bearer "),)),
    _acct("basic auth", "GET", "/v1/stages", 401, headers=(("Authorization", "Basic YWRtaW46YWRtaW4="),)),
    _acct("wrong token", "GET", "/v1/stages", 401, headers=(("Authorization", "Bearer nope"),)),
    _acct("8 KB token", "GET", "/v1/stages", 401, headers=(("Authorization", "Bearer " + "t" * 8000),)),
    _acct("latin-1 token", "GET", "/v1/stages", 401, headers=(("Authorization", "Bearer \u00e9\u00ff"),)),
    _acct("read token acknowledges", "POST", f"/v1/alerts/{ALERT}/ack", 403, body=b"{}", headers=(READ, JSON)),
    _acct(
        "read token sets owners",
        "PUT",
        "/v1/stages/pay/owners",
        403,
        headers=(READ, JSON),
        body=_j({"accountable": "billing"}),
    ),  # fmt: skip
    _acct(
        "actor header 10 KB",
        "POST",
        f"/v1/alerts/{ALERT}/ack",
        422,
        body=b"{}",
        headers=(OPERATOR, JSON, ("X-Journeyline-Actor", "a" * 10_000)),
    ),  # fmt: skip
    # Paths and query strings
    _acct("unknown stage", "GET", "/v1/stages/nowhere/scorecard", 404),
    _acct("stage with traversal", "GET", "/v1/stages/..%2F..%2Fetc%2Fpasswd/scorecard", 404),
    _acct("window bogus", "GET", "/v1/stages/pay/scorecard?window=forever", 422),
    _acct("window 10 KB", "GET", "/v1/stages/pay/scorecard?window=" + "w" * 10_000, 422),
    _acct("journey window bogus", "GET", "/v1/journey?window=-1", 422),
    _acct("unknown feedback", "GET", "/v1/feedback/does-not-exist", 404),
    _acct("feedback id 8 KB", "GET", "/v1/feedback/" + "f" * 8000, 404),
    _acct("feedback id with NUL", "GET", "/v1/feedback/a%00b", 404),
    _acct("feedback id invalid UTF-8", "GET", "/v1/feedback/%ff%fe", 404),
    _acct("feedback id SQL", "GET", "/v1/feedback/'%20OR%20'1'='1", 404),
    _acct("alert id not a uuid", "GET", "/v1/alerts/not-a-uuid", 404, 422),
    _acct("unknown alert", "GET", f"/v1/alerts/{ALERT}", 404),
    _acct("alerts status bogus", "GET", "/v1/alerts?status=exploded", 422),
    _acct("alerts limit zero", "GET", "/v1/alerts?limit=0", 422),
    _acct("alerts limit huge", "GET", "/v1/alerts?limit=100000000000000000000000", 422),
    _acct("alerts limit words", "GET", "/v1/alerts?limit=lots", 422),
    _acct("alerts since not a date", "GET", "/v1/alerts?since=yesterday", 422),
    _acct("alerts since year 99999", "GET", "/v1/alerts?since=99999-01-01T00:00:00", 422),
    _acct("alerts stage 1 KB", "GET", "/v1/alerts?stage=" + "s" * 1000, 422),
    # An alert's evidence (its items, in pages) and its notification history
    _acct("evidence of an unknown alert", "GET", f"/v1/alerts/{ALERT}/evidence", 404),
    _acct("evidence without a token", "GET", f"/v1/alerts/{ALERT}/evidence", 401, headers=()),
    _acct("evidence alert id 8 KB", "GET", "/v1/alerts/" + "a" * 8000 + "/evidence", 404),
    _acct("evidence alert id with NUL", "GET", "/v1/alerts/a%00b/evidence", 404),
    _acct("evidence alert id invalid UTF-8", "GET", "/v1/alerts/%ff%fe/evidence", 404),
    _acct("evidence limit zero", "GET", f"/v1/alerts/{ALERT}/evidence?limit=0", 422),
    _acct("evidence limit negative", "GET", f"/v1/alerts/{ALERT}/evidence?limit=-1", 422),
    _acct("evidence limit huge", "GET", f"/v1/alerts/{ALERT}/evidence?limit=100000000000000000000000", 422),
    _acct("evidence limit words", "GET", f"/v1/alerts/{ALERT}/evidence?limit=lots", 422),
    _acct("evidence cursor 1 KB", "GET", f"/v1/alerts/{ALERT}/evidence?cursor=" + "c" * 1000, 422),
    _acct("evidence cursor forged", "GET", f"/v1/alerts/{ALERT}/evidence?cursor=WyJuZXdlc3QiLDEsMl0", 404, 422),
    _acct("evidence cursor invalid UTF-8", "GET", f"/v1/alerts/{ALERT}/evidence?cursor=%ff%fe", 404, 422),
    _acct("evidence cursor with NUL", "GET", f"/v1/alerts/{ALERT}/evidence?cursor=a%00b", 404, 422),
    _acct("deliveries of an unknown alert", "GET", f"/v1/alerts/{ALERT}/deliveries", 404),
    _acct("deliveries alert id 8 KB", "GET", "/v1/alerts/" + "a" * 8000 + "/deliveries", 404),
    _acct("deliveries after negative", "GET", f"/v1/alerts/{ALERT}/deliveries?after=-1", 422),
    _acct("deliveries after past 64 bits", "GET", f"/v1/alerts/{ALERT}/deliveries?after=18446744073709551616", 422),
    _acct("deliveries after words", "GET", f"/v1/alerts/{ALERT}/deliveries?after=first", 422),
    _acct("deliveries after a float", "GET", f"/v1/alerts/{ALERT}/deliveries?after=1.5", 422),
    _acct("deliveries limit zero", "GET", f"/v1/alerts/{ALERT}/deliveries?limit=0", 422),
    _acct("deliveries limit huge", "GET", f"/v1/alerts/{ALERT}/deliveries?limit=99999999999999999999", 422),
    # Feedback search, the triage queue and a customer's timeline: every filter, the cursor and the full text
    _acct("search misspelt filter", "GET", "/v1/feedback?stag=pay", 422),
    _acct("search unknown stage", "GET", "/v1/feedback?stage=nowhere", 422),
    _acct("search stage 1 KB", "GET", "/v1/feedback?stage=" + "s" * 1000, 422),
    _acct("search channel 1 KB", "GET", "/v1/feedback?channel=" + "c" * 1000, 422),
    _acct("search customer 1 KB", "GET", "/v1/feedback?customer=" + "c" * 1000, 422),
    _acct("search customer with NUL", "GET", "/v1/feedback?customer=a%00b", 422),
    _acct("search source with NUL", "GET", "/v1/feedback?source=a%00b", 422),
    _acct("search since naive", "GET", "/v1/feedback?since=2026-01-01T00:00:00", 422),
    _acct("search since after until", "GET", "/v1/feedback?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", 422),
    _acct("search since year 99999", "GET", "/v1/feedback?since=99999-01-01T00:00:00Z", 422),
    _acct("search confidence NaN", "GET", "/v1/feedback?min_confidence=NaN", 422),
    _acct("search confidence 2", "GET", "/v1/feedback?max_confidence=2", 422),
    _acct("search confidence crossed", "GET", "/v1/feedback?min_confidence=0.9&max_confidence=0.1", 422),
    _acct("search limit huge", "GET", "/v1/feedback?limit=100000000000000000000000", 422),
    _acct("search order bogus", "GET", "/v1/feedback?order=random", 422),
    _acct("search cursor garbage", "GET", "/v1/feedback?cursor=%ff%fe%00", 422),
    _acct("search cursor forged", "GET", "/v1/feedback?cursor=WyJuZXdlc3QiLDEsMl0", 422),
    _acct("search cursor 1 KB", "GET", "/v1/feedback?cursor=" + "c" * 1000, 422),
    _acct("search q without words", "GET", "/v1/feedback?q=%22%22%20*%20-%20%28%29", 422),
    _acct("search q 1 KB", "GET", "/v1/feedback?q=" + "refund%20" * 120, 422),
    _acct("search q FTS syntax", "GET", "/v1/feedback?q=NEAR%28a%20b%29%20OR%20c*%20%22d", 200, problem_json=False),
    _acct("search q tsquery syntax", "GET", "/v1/feedback?q=a%20%26%20%21b%20%7C%20c%3A*", 200, problem_json=False),
    _acct("search q 190 one-letter words", "GET", "/v1/feedback?q=" + "a%20" * 65, 200, problem_json=False),
    _acct("search q with NUL", "GET", "/v1/feedback?q=ref%00und", 422),
    _acct("search q invalid UTF-8", "GET", "/v1/feedback?q=%ff%fe", 422),
    _acct("search without a token", "GET", "/v1/feedback", 401, headers=()),
    _acct(
        "triage cursor of the search",
        "GET",
        "/v1/triage?cursor=WyJuZXdlc3QiLCIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwiYSJd",
        422,
    ),
    _acct("triage order given", "GET", "/v1/triage?order=newest", 422),
    _acct("timeline customer 8 KB", "GET", "/v1/customers/" + "c" * 8000 + "/timeline", 200, problem_json=False),
    _acct("timeline customer with NUL", "GET", "/v1/customers/a%00b/timeline", 200, problem_json=False),
    _acct(
        "timeline cursor forged", "GET", "/v1/customers/c1/timeline?cursor=WyJvbGRlc3QiLCJub3QgYSBkYXRlIiwiYSJd", 422
    ),
    _acct("timeline limit zero", "GET", "/v1/customers/c1/timeline?limit=0", 422),
    _acct(
        "bulk relabel by a reader",
        "POST",
        "/v1/feedback/relabel",
        403,
        headers=(READ, JSON),
        body=_j({"ids": ["a"], "stage": "pay"}),
    ),
    _acct(
        "bulk relabel no ids",
        "POST",
        "/v1/feedback/relabel",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"ids": [], "stage": "pay"}),
    ),
    _acct(
        "bulk relabel 501 ids",
        "POST",
        "/v1/feedback/relabel",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"ids": ["a"] * 501, "stage": "pay"}),
    ),
    _acct(
        "bulk relabel id 100 chars",
        "POST",
        "/v1/feedback/relabel",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"ids": ["a" * 100], "stage": "pay"}),
    ),
    _acct(
        "bulk relabel ids not a list",
        "POST",
        "/v1/feedback/relabel",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"ids": "a,b", "stage": "pay"}),
    ),
    _acct(
        "bulk relabel unknown stage",
        "POST",
        "/v1/feedback/relabel",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"ids": ["a"], "stage": "nowhere"}),
    ),
    _acct(
        "bulk relabel id with NUL",
        "POST",
        "/v1/feedback/relabel",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"ids": ["a\u0000b"], "stage": "pay"}),
    ),
    _acct("team figures of an unknown team", "GET", "/v1/teams/nobody/accountability", 404),
    _acct("team figures team id 8 KB", "GET", "/v1/teams/" + "t" * 8000 + "/accountability", 404),
    _acct("team figures window bogus", "GET", "/v1/teams/billing/accountability?window=forever", 422),
    _acct(
        "resolve without a code", "POST", f"/v1/alerts/{ALERT}/resolve", 404, 422, body=b"{}", headers=(OPERATOR, JSON)
    ),
    _acct(
        "resolve code 1 KB",
        "POST",
        f"/v1/alerts/{ALERT}/resolve",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"code": "c" * 1000, "note": "n"}),
    ),
    _acct("themes of an unknown stage", "GET", "/v1/stages/nowhere/themes", 404),
    _acct("themes stage 8 KB", "GET", "/v1/stages/" + "s" * 8000 + "/themes", 404),
    _acct("themes window bogus", "GET", "/v1/stages/pay/themes?window=1y", 422),
    _acct("themes sort bogus", "GET", "/v1/stages/pay/themes?sort=random", 422),
    _acct("themes limit zero", "GET", "/v1/stages/pay/themes?limit=0", 422),
    _acct("themes limit huge", "GET", "/v1/stages/pay/themes?limit=100000000000000000000", 422),
    _acct("themes without a token", "GET", "/v1/stages/pay/themes", 401, headers=()),
    _acct("drivers metric bogus", "GET", "/v1/journey/drivers?metric=revenue", 422),
    _acct("drivers metric 1 KB", "GET", "/v1/journey/drivers?metric=" + "m" * 1000, 422),
    _acct("drivers kind bogus", "GET", "/v1/journey/drivers?kind=customer", 422),
    _acct("drivers window with NUL", "GET", "/v1/journey/drivers?window=7d%00", 422),
    _acct("drivers limit negative", "GET", "/v1/journey/drivers?limit=-1", 422),
    _acct("moments limit negative", "GET", "/v1/moments?limit=-5", 422),
    _acct("audit with a read token", "GET", "/v1/audit", 403),
    _acct("audit limit NaN", "GET", "/v1/audit?limit=NaN", 422, headers=(OPERATOR,)),
    _acct("unknown route", "GET", "/v1/secrets", 404),
    _acct("DELETE on stages", "DELETE", "/v1/stages", 405),
    # Bodies
    _acct("ack unknown alert", "POST", f"/v1/alerts/{ALERT}/ack", 404, body=b"{}", headers=(OPERATOR, JSON)),
    _acct("resolve unknown alert", "POST", f"/v1/alerts/{ALERT}/resolve", 404, body=b"{}", headers=(OPERATOR, JSON)),
    _acct(
        "owners truncated JSON",
        "PUT",
        "/v1/stages/pay/owners",
        422,
        headers=(ADMIN, JSON),
        body=b'{"accountable": "bill',
    ),  # fmt: skip
    _acct(
        "owners invalid UTF-8",
        "PUT",
        "/v1/stages/pay/owners",
        400,
        422,
        headers=(ADMIN, JSON),
        body=b'{"accountable": "\xff\xfe"}',
    ),  # fmt: skip
    _acct(
        "owners wrong types",
        "PUT",
        "/v1/stages/pay/owners",
        422,
        headers=(ADMIN, JSON),
        body=_j({"accountable": 5, "contributing": "everyone"}),
    ),  # fmt: skip
    _acct(
        "owners unknown team",
        "PUT",
        "/v1/stages/pay/owners",
        422,
        headers=(ADMIN, JSON),
        body=_j({"accountable": "no-such-team"}),
    ),  # fmt: skip
    _acct("owners missing key", "PUT", "/v1/stages/pay/owners", 422, headers=(ADMIN, JSON), body=b"{}"),
    _acct("owners by an operator", "PUT", "/v1/stages/pay/owners", 403, headers=(OPERATOR, JSON), body=b"{}"),
    _acct(
        "owners 10,000 contributing",
        "PUT",
        "/v1/stages/pay/owners",
        413,  # 110 KB: over the 64 KiB body limit of every accountability route
        headers=(ADMIN, JSON),
        body=_j({"accountable": "billing", "contributing": ["billing"] * 10_000}),
    ),  # fmt: skip
    _acct(
        "owners deep nesting",
        "PUT",
        "/v1/stages/pay/owners",
        400,
        422,
        headers=(ADMIN, JSON),
        body=b'{"accountable": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ),  # fmt: skip
    _acct(
        "owners raw NUL",
        "PUT",
        "/v1/stages/pay/owners",
        400,
        422,
        headers=(ADMIN, JSON),
        body=b'{"accountable": "bil\x00ling"}',
    ),  # fmt: skip
    _acct(
        "owners as text/plain",
        "PUT",
        "/v1/stages/pay/owners",
        415,
        422,
        headers=(ADMIN, ("Content-Type", "text/plain")),
        body=_j({"accountable": "billing"}),
    ),  # fmt: skip
    _acct("team id with spaces", "PUT", "/v1/teams/bad%20team", 422, headers=(ADMIN, JSON), body=b"{}"),
    _acct("team id 1 KB", "PUT", "/v1/teams/" + "t" * 1000, 422, headers=(ADMIN, JSON), body=b"{}"),
    _acct("team change by an operator", "PUT", "/v1/teams/billing", 403, headers=(OPERATOR, JSON), body=b"{}"),
    _acct("erase by a reader", "DELETE", "/v1/customers/CUS-1", 403),
    _acct("erase by an operator", "DELETE", "/v1/customers/CUS-1", 403, headers=(OPERATOR,)),
    _acct("erase a customer id with NUL", "DELETE", "/v1/customers/a%00b", 404, headers=(ADMIN,)),
    _acct("erase a customer id of 1 KB", "DELETE", "/v1/customers/" + "c" * 1000, 404, headers=(ADMIN,)),
    # Lengths the database must hold, on SQLite and PostgreSQL alike: refused as 422, never a 500
    _acct(
        "silence naive ends_at",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "ends_at": "2999-01-01T00:00:00"}),
    ),
    _acct(
        "silence ends in 100 years",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "ends_at": "2125-01-01T00:00:00Z"}),
    ),
    _acct(
        "actor header 190 chars",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON, ("X-Journeyline-Actor", "a" * 190)),
        body=_j({"stage": "pay", "duration_s": 60}),
    ),
    _acct(
        "receiver URL 2,000 chars",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"receivers": [{"type": "webhook", "url": "https://hooks.example.com/" + "p" * 2000}]}),
    ),
    _acct(
        "receiver secret 1,000 chars",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"receivers": [{"type": "webhook", "url": "https://hooks.example.com/", "secret": "s" * 1000}]}),
    ),
    _acct(
        "receiver on loopback",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"receivers": [{"type": "webhook", "url": "http://127.0.0.1:8003/v1/alerts"}]}),
    ),
    _acct(
        "receiver on the metadata endpoint",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"receivers": [{"type": "slack", "url": "http://169.254.169.254/latest/meta-data/"}]}),
    ),
    _acct("team name 300 chars", "PUT", "/v1/teams/billing", 422, headers=(ADMIN, JSON), body=_j({"name": "n" * 300})),
    _acct(
        "ack note 2,000 chars",
        "POST",
        f"/v1/alerts/{ALERT}/ack",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"note": "n" * 2000}),
    ),
    _acct(
        "relabel by 300 chars",
        "POST",
        "/v1/feedback/x/stage",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "by": "b" * 300}),
    ),
    _acct(
        "team webhook to file://",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"receivers": [{"type": "webhook", "url": "file:///etc/passwd"}]}),
    ),  # fmt: skip
    _acct(
        "team receiver unknown type",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"receivers": [{"type": "carrier-pigeon"}]}),
    ),  # fmt: skip
    _acct(
        "team 1,000 receivers",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"receivers": [{"type": "webhook", "url": "http://127.0.0.1:1/x"}] * 1000}),
    ),  # fmt: skip
    _acct(
        "relabel unknown stage",
        "POST",
        "/v1/feedback/whatever/stage",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "nowhere"}),
    ),  # fmt: skip
    _acct(
        "relabel unknown feedback",
        "POST",
        "/v1/feedback/does-not-exist/stage",
        404,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay"}),
    ),  # fmt: skip
    _acct(
        "relabel stage 1 MB",
        "POST",
        "/v1/feedback/x/stage",
        413,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "s" * 1_000_000}),
    ),  # fmt: skip
    _acct(
        "silence infinite",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=b'{"stage": "pay", "duration_s": Infinity}',
    ),  # fmt: skip
    _acct(
        "silence NaN",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=b'{"stage": "pay", "duration_s": NaN}',
    ),  # fmt: skip
    _acct(
        "silence negative",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "duration_s": -60}),
    ),  # fmt: skip
    _acct("silence body a list", "POST", "/v1/silences", 422, headers=(OPERATOR, JSON), body=b"[1, 2]"),
    # Recurring silences and escalation chains: bad RRULE text, rules without an end, chains naming nobody
    _acct(
        "silence rrule not RFC 5545",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "rrule": "FREQ=SOMETIMES", "occurrence_s": 3600}),
    ),
    _acct(
        "silence rrule without an end",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "rrule": "FREQ=WEEKLY;BYDAY=MO", "occurrence_s": 3600}),
    ),
    _acct(
        "silence rrule every second",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "rrule": "FREQ=SECONDLY;COUNT=100000", "occurrence_s": 1}),
    ),
    _acct(
        "silence rrule naive DTSTART",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "rrule": "DTSTART:20300101T000000\nRRULE:FREQ=DAILY;COUNT=2", "occurrence_s": 60}),
    ),
    _acct(
        "silence rrule without occurrence_s",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "rrule": "FREQ=DAILY;COUNT=2"}),
    ),
    _acct(
        "silence rrule 1 MB",
        "POST",
        "/v1/silences",
        413,
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "rrule": "FREQ=DAILY;" * 100_000, "occurrence_s": 60}),
    ),
    _acct(
        "silence rrule with NUL",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "rrule": "FREQ=DAILY;COUNT=2\x00", "occurrence_s": 60}),
    ),
    _acct(
        "silence starts in 10 years",
        "POST",
        "/v1/silences",
        422,
        headers=(OPERATOR, JSON),
        body=_j({"stage": "pay", "starts_at": "2036-01-01T00:00:00Z", "duration_s": 60}),
    ),
    _acct(
        "team chain names an unknown member",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"chain": [{"after": "5m", "notify": {"member": "nobody"}}]}),
    ),
    _acct(
        "team chain names an unknown team",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"chain": [{"after": "5m", "notify": {"team": "nobody"}}]}),
    ),
    _acct(
        "team chain working hours in an unknown zone",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"chain": [{"notify": {"team": "billing"}, "only_within": {"tz": "Mars/Olympus"}}]}),
    ),
    _acct(
        "team member contact on the metadata endpoint",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"members": [{"name": "m", "contact": "http://169.254.169.254/latest"}]}),
    ),
    _acct(
        "team member contact not a contact",
        "PUT",
        "/v1/teams/billing",
        422,
        headers=(ADMIN, JSON),
        body=_j({"members": [{"name": "m", "contact": "javascript:alert(1)"}]}),
    ),
    _acct("delete unknown silence", "DELETE", "/v1/silences/nope", 404, headers=(OPERATOR,)),
]

CASES = INGEST + ACCOUNTABILITY
