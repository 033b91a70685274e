"""The classifier's decision order, the unassigned threshold, and its explanations (no network)."""

from __future__ import annotations

from services.classify.evaluation import evaluate, report
from services.classify.training import LabelledText
from shared.journey import UNASSIGNED
from shared.models import Method, Scores
from tests.classify.factories import classifier, feedback


def test_trusted_stage_hint_wins_over_rules_and_text() -> None:
    item = feedback("I was charged twice on my bill", stage_hint="leave", metadata={"disposition": "OUTAGE"})
    result = classifier().classify(item)
    assert (result.stage, result.method, result.confidence) == ("leave", Method.hint, 1.0)
    assert "stage hint 'leave'" in result.explanation


def test_unknown_or_untrusted_hint_falls_through_to_rules() -> None:
    item = feedback("whatever", stage_hint="not-a-stage", metadata={"disposition": "REFUND_ISSUED"})
    assert classifier().classify(item).method is Method.rule
    item = feedback("whatever", stage_hint="leave", metadata={"disposition": "REFUND_ISSUED"})
    result = classifier(trust_stage_hints=False).classify(item)
    assert (result.stage, result.method) == ("pay", Method.rule)


def test_metadata_rule_beats_the_text_and_names_itself() -> None:
    item = feedback("No signal at home for a week", metadata={"queue": "billing"})  # value matched case-insensitively
    result = classifier().classify(item)
    assert (result.stage, result.method) == ("pay", Method.rule)
    assert result.explanation == "metadata rule 'queue-billing': queue=billing"
    assert result.backend is None


def test_text_model_explains_with_the_words_that_weighed_most() -> None:
    result = classifier().classify(feedback("Still waiting for my refund, the invoice was wrong"))
    assert (result.stage, result.method) == ("pay", Method.model)
    assert result.confidence >= 0.45
    assert "words that weighed most" in result.explanation and "'refund'" in result.explanation
    assert result.backend == "tfidf" and result.model_version == "map-tfidf"


def test_below_threshold_is_unassigned_never_a_silent_guess() -> None:
    item = feedback("hmm ok")
    low = classifier(threshold=0.0).classify(item)
    high = classifier(threshold=0.99).classify(item)
    assert low.stage != UNASSIGNED
    assert high.stage == UNASSIGNED and high.method is Method.model
    assert "below the threshold 0.99" in high.explanation and "best guess" in high.explanation


def test_no_text_no_hint_no_rule_is_a_fallback_to_triage() -> None:
    result = classifier().classify(feedback(None, scores=Scores(csat=1)))
    assert (result.stage, result.method, result.confidence) == (UNASSIGNED, Method.fallback, 0.0)
    assert result.sentiment.label == "negative" and "CSAT 1/5" in result.sentiment.explanation


def test_batch_gives_the_same_answers_as_one_at_a_time() -> None:
    texts = ["Parcel never arrived", "On hold for an hour", "cancel my contract now", "", "app keeps crashing"]
    items = [feedback(t) for t in texts]
    clf = classifier()
    assert [c.stage for c in clf.classify_many(items)] == [clf.classify(i).stage for i in items]


def test_evaluation_report_ends_with_macro_f1() -> None:
    rows = [
        LabelledText(text="Still waiting for my refund", stage="pay"),
        LabelledText(text="On hold for 50 minutes, nobody answered", stage="get_help"),
        LabelledText(text="Courier left my parcel at the wrong house", stage="onboard"),
    ]
    text = report(evaluate(classifier(), rows))
    assert text.splitlines()[-1].startswith("macro_f1=")
    assert "confusion matrix" in text
