"""Measuring a classifier on labelled items: per-stage precision, recall, F1, the confusion matrix, macro-F1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.classify.models import LabelledText
from services.classify.service import Classifier
from shared.journey import UNASSIGNED
from shared.models import Feedback, utcnow


@dataclass
class StageScore:
    stage: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class LanguageScore:
    """The same measures on the rows labelled with one language, and how often its language was detected."""

    language: str
    items: int
    macro_f1: float
    top1_macro_f1: float
    accuracy: float
    unassigned_share: float
    detected: float  # share of its rows detected as this language


@dataclass
class Evaluation:
    stages: list[str]
    scores: list[StageScore]
    confusion: dict[str, dict[str, int]]  # truth -> predicted -> count (predicted may be 'unassigned')
    macro_f1: float
    top1_macro_f1: float
    unassigned_share: float
    accuracy: float
    languages: list[LanguageScore] = field(default_factory=list)  # when the rows say their language


def _macro(truth: Sequence[str], predicted: Sequence[str], stages: list[str]) -> float:
    present = [s for s in stages if s in set(truth)]
    return sum(s.f1 for s in _f1s(truth, predicted, present)) / len(present) if present else 0.0


def _f1s(truth: Sequence[str], predicted: Sequence[str], stages: list[str]) -> list[StageScore]:
    out = []
    for stage in stages:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == stage and p == stage)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != stage and p == stage)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == stage and p != stage)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append(StageScore(stage, precision, recall, f1, tp + fn))
    return out


def evaluate(classifier: Classifier, rows: Sequence[LabelledText]) -> Evaluation:
    """Classify every row's text as the service would; an `unassigned` answer counts as a miss."""
    now = utcnow()
    items = [
        Feedback(id=str(i), source="evaluate", channel="other", occurred_at=now, received_at=now, text=r.text)
        for i, r in enumerate(rows)
    ]
    results = classifier.classify_many(items)
    truth = [r.stage for r in rows]
    predicted = [c.stage for c in results]
    classes = classifier.model.backend.classes
    top1 = [classes[int(p.argmax())] for p in classifier.model.backend.predict_proba([r.text for r in rows])]
    stages = [s for s in classifier.journey.stage_ids if s != UNASSIGNED and s in set(truth)]
    scores = _f1s(truth, predicted, stages)
    confusion = {t: dict.fromkeys([*stages, UNASSIGNED], 0) for t in stages}
    for t, p in zip(truth, predicted, strict=True):
        if t in confusion:
            confusion[t][p] = confusion[t].get(p, 0) + 1
    languages: list[LanguageScore] = []
    for language in sorted({r.language for r in rows if r.language}):
        idx = [i for i, r in enumerate(rows) if r.language == language]
        sub_truth, sub_pred = [truth[i] for i in idx], [predicted[i] for i in idx]
        languages.append(
            LanguageScore(
                language=language,
                items=len(idx),
                macro_f1=_macro(sub_truth, sub_pred, stages),
                top1_macro_f1=_macro(sub_truth, [top1[i] for i in idx], stages),
                accuracy=sum(1 for a, b in zip(sub_truth, sub_pred, strict=True) if a == b) / len(idx),
                unassigned_share=sub_pred.count(UNASSIGNED) / len(idx),
                detected=sum(1 for i in idx if results[i].language == language) / len(idx),
            )
        )
    return Evaluation(
        languages=languages,
        stages=stages,
        scores=scores,
        confusion=confusion,
        macro_f1=sum(s.f1 for s in scores) / len(scores) if scores else 0.0,
        top1_macro_f1=sum(s.f1 for s in _f1s(truth, top1, stages)) / len(stages) if stages else 0.0,
        unassigned_share=predicted.count(UNASSIGNED) / len(predicted) if predicted else 0.0,
        accuracy=sum(1 for t, p in zip(truth, predicted, strict=True) if t == p) / len(truth) if truth else 0.0,
    )


def report(result: Evaluation) -> str:
    """A plain-text report whose last line is `macro_f1=0.xxx`."""
    lines = [f"{'stage':<12}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for s in result.scores:
        lines.append(f"{s.stage:<12}{s.precision:>10.3f}{s.recall:>8.3f}{s.f1:>8.3f}{s.support:>9}")
    columns = [*result.stages, UNASSIGNED]
    width = max(9, *(len(c) + 1 for c in columns))
    lines += ["", "confusion matrix (rows: true stage, columns: predicted)"]
    lines.append(f"{'':<12}" + "".join(f"{c[: width - 1]:>{width}}" for c in columns))
    for truth in result.stages:
        lines.append(f"{truth:<12}" + "".join(f"{result.confusion[truth].get(c, 0):>{width}}" for c in columns))
    if result.languages:
        lines += ["", "per language (macro_f1 counts unassigned as a miss; detected = language detection accuracy)"]
        lines.append(
            f"{'language':<10}{'items':>7}{'macro_f1':>10}{'top1':>8}{'accuracy':>10}{'unassigned':>12}{'detected':>10}"
        )
        for lang in result.languages:
            lines.append(
                f"{lang.language:<10}{lang.items:>7}{lang.macro_f1:>10.3f}{lang.top1_macro_f1:>8.3f}"
                f"{lang.accuracy:>10.3f}{lang.unassigned_share:>12.3f}{lang.detected:>10.3f}"
            )
    lines += [
        "",
        f"items={sum(s.support for s in result.scores)} accuracy={result.accuracy:.3f} "
        f"unassigned_share={result.unassigned_share:.3f} top1_macro_f1={result.top1_macro_f1:.3f} "
        "(top1 = the model's best guess, no threshold)",
        f"macro_f1={result.macro_f1:.3f}",
    ]
    return "\n".join(lines)
