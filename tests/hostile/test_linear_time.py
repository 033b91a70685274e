"""Text handling stays linear in the input and bounded in memory, whatever a customer (or an attacker) sends.

- `strip_html` on angle brackets with no closing `>`: the time grows like the input (a regex `<[^>]+>` rescans
  the rest of the input from every `<`: 200,000 of them took minutes).
- Every adapter, fed each of its example payloads with every string replaced by a long adversarial text, and the
  classifier on those texts, finish each example within a deadline (hypothesis `deadline`).
- The classifier's caches are bounded by bytes: 1,000 distinct 10,000-character words grow them by little."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.classify import backends
from services.classify import text as classify_text
from services.ingest.adapters.common import strip_html
from services.ingest.examples import EXAMPLES
from services.ingest.models import Adapter
from tests.classify.factories import classifier, feedback
from tests.ingest.factories import run


def _seconds(work: Callable[[], object]) -> float:
    """The best of five runs: the least disturbed by whatever else the machine is doing."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize(
    "unit",
    ["<", "<a", "<<>", "a<b ", "< > < ", "\u00e9<\u4e2d"],
    ids=["lt", "lt-a", "nested", "words", "pairs", "mixed"],
)
def test_strip_html_time_grows_linearly_with_the_input(unit: str) -> None:
    # The smaller input is large enough (100,000 units) that both runs are in the same memory regime: at 20,000
    # units a CI run once measured 36x for "a<b " from allocation noise alone.
    small, large = unit * 100_000, unit * 1_000_000
    strip_html(small)  # warm up
    ratio = _seconds(lambda: strip_html(large)) / max(_seconds(lambda: strip_html(small)), 1e-6)
    # 10x the input: linear is about 10x the time (8-13x measured); quadratic would be 100x.
    assert ratio < 40, f"10x the input took {ratio:.0f}x the time"


def test_strip_html_keeps_the_text_and_drops_the_tags() -> None:
    assert strip_html("<p>Refund <b>still</b>\n missing</p>") == "Refund still missing"
    assert strip_html("price < 5 and no closing") == "price < 5 and no closing"
    assert strip_html("<" * 200_000) == "<" * 200_000


ADVERSARIAL = st.one_of(
    st.just("<" * 10_000),
    st.just("a" * 10_000),
    st.just("refund " * 1_400),
    st.just(("\u4e2d\u6587" + "z\u00f3\u0142w " + "\u0645\u0631\u062d\u0628\u0627 ") * 600),
    st.text(min_size=1000, max_size=10_000),
    st.builds(lambda w, n: " ".join([w] * n), st.text(min_size=1, max_size=40), st.integers(100, 2000)),
)
ADAPTER_OF = {
    "generic": Adapter.generic,
    "call_centre": Adapter.call_centre,
    "amazon_connect": Adapter.call_centre,
    "zendesk": Adapter.generic,
    "social": Adapter.social,
    "facebook": Adapter.social,
    "review": Adapter.review,
    "google_play": Adapter.review,
    "survey": Adapter.survey,
    "delighted": Adapter.survey,
}


def _with_text(payload: Any, text: str) -> Any:
    """Every string in the payload that is not a time, an id-like key or a number becomes `text`."""
    if isinstance(payload, dict):
        return {k: _with_text(v, text) if _free_text(k) else v for k, v in payload.items()}
    if isinstance(payload, list):
        return [_with_text(v, text) for v in payload]
    return text if isinstance(payload, str) else payload


def _free_text(key: str) -> bool:
    key = key.lower()
    return not any(part in key for part in ("time", "_at", "date", "id", "type", "channel", "kind", "version"))


@pytest.fixture(scope="module", autouse=True)
def _trained_classifier() -> None:
    """Train the classifier once before any deadline runs: the deadline is for classifying, not for training."""
    classifier().classify_many([feedback("warm up")])


@pytest.mark.parametrize("name", sorted(ADAPTER_OF))
@settings(
    max_examples=8,
    deadline=3000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=ADVERSARIAL)
def test_every_adapter_and_the_classifier_handle_long_adversarial_text_in_time(name: str, text: str) -> None:
    payload = _with_text(copy.deepcopy(EXAMPLES[name]["value"]), text)
    records, rejections = run(payload, ADAPTER_OF[name])
    assert records or rejections  # an answer either way, never an exception
    result = classifier().classify_many([feedback(text[:10_000])])  # the canonical model caps text at 10,000
    assert result[0].stage


def test_the_classifier_caches_stay_bounded_by_bytes_on_a_thousand_huge_words() -> None:
    model = classifier()
    junk = [feedback(f"{i:04d}" + "x" * 9_996) for i in range(1_000)]
    for start in range(0, len(junk), 100):
        model.classify_many(junk[start : start + 100])
    assert backends._NGRAM_CACHE.bytes <= backends._NGRAM_CACHE.max_bytes
    assert classify_text._TOKENS.bytes <= classify_text._TOKENS.max_bytes
    assert all(len(w) <= backends.MAX_CACHED_WORD for w in backends._NGRAM_CACHE._items)
