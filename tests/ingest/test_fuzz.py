"""Property-based fuzzing of POST /v1/events on the live service: no input, however odd, gets a 5xx."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.examples import EXAMPLES
from tests.ingest.conftest import Ingest

pytestmark = pytest.mark.integration

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
times = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["2025-02-30T10:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01", "now", "", "2025-03-06 14:02:33"]),
    st.text(max_size=25),
)
events = st.fixed_dictionaries(
    {},
    optional={
        "external_id": st.one_of(st.text(max_size=300), st.integers(-(2**63), 2**63 - 1), st.none()),
        "text": st.one_of(st.text(max_size=200), st.integers(10_001, 10_003).map(lambda n: "x" * n), json_values),
        "channel": st.one_of(st.sampled_from(["call", "chat", "social", "review", "survey", "fax"]), json_values),
        "kind": st.one_of(
            st.sampled_from(["feedback", "contact", "survey_response", "journey_event", "x"]), json_values
        ),
        "occurred_at": times,
        "customer": st.one_of(
            st.fixed_dictionaries({}, optional={"id": json_values, "segment": json_values}), json_values
        ),
        "customer_id": json_values,
        "scores": st.one_of(
            st.dictionaries(
                st.sampled_from(["nps", "csat", "ces", "effort"]), st.one_of(st.integers(-3, 14), json_values)
            ),
            json_values,
        ),
        "metadata": st.one_of(st.dictionaries(st.text(max_size=120), st.text(max_size=50), max_size=5), json_values),
        "stage_hint": json_values,
        "source": st.sampled_from(["chat-tool", "someone-else"]),
        "id": st.text(max_size=5),
    },
)


@st.composite
def vendor_mutations(draw: st.DrawFn) -> Any:
    """A real vendor example with one field, anywhere in it, replaced by something else."""
    payload = copy.deepcopy(EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))]["value"])
    node = payload
    for _ in range(draw(st.integers(0, 4))):
        children = (
            list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        )
        containers = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
        if not containers:
            break
        _, node = draw(st.sampled_from(containers))
    if isinstance(node, dict) and node:
        node[draw(st.sampled_from(sorted(node)))] = draw(json_values)
    elif isinstance(node, list) and node:
        node[draw(st.integers(0, len(node) - 1))] = draw(json_values)
    return payload


def _encode(kind: str, value: Any) -> bytes:
    if kind == "ndjson" and isinstance(value, list):
        return b"\n".join(orjson.dumps(v) for v in value)
    return orjson.dumps(value)


odd_bodies = st.sampled_from(
    [
        b'{"text": "a", "scores": {"nps": 123456789012345678901234567890}}',
        b'{"text": "a", "occurred_at": 1e308}',
        b'{"text": "a\\ud800"}',
        b"\xef\xbb\xbf{}",
        b"[" * 5000 + b"]" * 5000,
        b"null",
        b'"\\u0000"',
        b'{"text": NaN}',
    ]
)
forms = st.dictionaries(
    st.sampled_from(["EventType", "TaskSid", "Timestamp", "TaskAttributes", "TaskChannelUniqueName", "x"]),
    st.text(max_size=40),
).map(lambda d: urlencode(d).encode())
bodies = st.one_of(
    st.binary(max_size=300),
    odd_bodies,
    forms,
    st.tuples(
        st.sampled_from(["json", "ndjson"]),
        st.one_of(events, vendor_mutations(), json_values, st.lists(events, max_size=5)),
    ).map(lambda t: _encode(*t)),
    st.lists(vendor_mutations(), min_size=1, max_size=3).map(lambda items: b"\n".join(orjson.dumps(i) for i in items)),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-ndjson",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
        "application/json; charset=latin-1",
    ]
)
adapters = st.sampled_from([None, "generic", "call_centre", "social", "review", "survey", "bogus"])


@pytest.fixture(scope="module")
def client(ingest: Ingest) -> Any:
    with httpx.Client(base_url=ingest.url, timeout=30) as http:
        yield http


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, content_type=content_types, adapter=adapters, key=st.sampled_from(["good", "bad", "none"]))
def test_no_input_gets_a_5xx(
    client: httpx.Client, ingest: Ingest, body: bytes, content_type: str, adapter: str | None, key: str
) -> None:
    headers = {"Content-Type": content_type}
    if key != "none":
        headers["X-API-Key"] = ingest.keys["chat-tool"] if key == "good" else "jl_" + "x" * 43
    params = {"adapter": adapter} if adapter else {}
    response = client.post("/v1/events", content=body, headers=headers, params=params)
    assert response.status_code < 500, (response.status_code, response.text, body[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]
    else:
        assert response.status_code in (202, 207)
