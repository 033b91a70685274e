"""Sentiment and severity, each explained (no network)."""

from __future__ import annotations

import pytest

from services.classify.sentiment import sentiment_of, severity_of
from shared.models import Scores, Severity


def test_sentiment_score_label_and_the_words_behind_it() -> None:
    bad = sentiment_of("The agent was rude and useless, absolutely furious")
    good = sentiment_of("Brilliant service, thank you so much")
    assert bad.label == "negative" and -1 <= bad.score < -0.5
    assert "'furious'" in bad.explanation
    assert good.label == "positive" and good.score > 0.5
    assert sentiment_of("The parcel arrived on Tuesday").label == "neutral"


def test_negation_flips_the_feeling() -> None:
    assert sentiment_of("the agent was helpful").score > 0
    assert sentiment_of("the agent was not helpful").score < 0


def test_a_request_to_put_something_right_is_not_a_friendly_word() -> None:
    # found trying the product: VADER rates "please" +1.3, which made this complaint positive
    complaint = sentiment_of(
        "I was charged twice for my March invoice and nobody answers the billing line. "
        "Please refund the duplicate payment."
    )
    assert complaint.label == "negative" and "please" not in complaint.explanation.casefold()
    assert sentiment_of("Please keep up the great work").label == "positive"  # the other words still count


def test_scores_give_a_sentiment_when_there_is_no_text() -> None:
    assert sentiment_of(None, Scores(nps=10)).label == "positive"
    assert sentiment_of("", Scores(ces=7)).label == "negative"
    assert sentiment_of(None).explanation == "no text and no scores"


@pytest.mark.parametrize(
    ("text", "severity", "reason"),
    [
        ("I'm taking this to the ombudsman", Severity.critical, "legal or regulator mention: 'ombudsman'"),
        ("There's a smell of gas near the new boiler", Severity.critical, "safety concern: 'smell of gas'"),
        ("Absolutely furious, I'm cancelling my contract", Severity.critical, "threat to leave"),
        ("I'm cancelling my contract at the end of the month", Severity.high, "threat to leave: 'cancelling my'"),
        ("This is ridiculous, third time I've asked", Severity.high, "anger: 'ridiculous'"),
        ("Lovely staff, great help", Severity.low, "positive sentiment"),
        ("Where is my parcel", Severity.normal, "no severity signal"),
        ("Charged a cancellation fee on a flight you cancelled", Severity.normal, "no severity signal"),
    ],
)
def test_severity_and_its_reason(text: str, severity: Severity, reason: str) -> None:
    found, why = severity_of(text, sentiment_of(text))
    assert found is severity
    assert reason in why
