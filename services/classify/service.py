"""The classifier: a pure function from feedback to classification (no Kafka, no HTTP).

Decision order: a trusted `stage_hint` from the source, then the journey map's metadata rules, then the
text model. Below the confidence threshold the stage is `unassigned` (the triage team's), never a guess; so is a
text in a language the classifier does not read (reason 'unsupported language').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from services.classify.language import Language, detect_many
from services.classify.sentiment import sentiment_of, severity_of
from services.classify.trained import TrainedModel
from shared.journey import UNASSIGNED, JourneyMap, MetadataRule
from shared.models import Classification, Feedback, Method, Severity


@dataclass
class StageDecision:
    stage: str
    confidence: float
    method: Method
    explanation: str


@dataclass
class Classifier:
    journey: JourneyMap
    model: TrainedModel
    threshold: float
    trust_stage_hints: bool = True
    _rules: dict[tuple[str, str], MetadataRule] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rules = {}
        for rule in self.journey.metadata_rules:  # first rule in the map wins on a clash
            for value in rule.values:
                self._rules.setdefault((rule.field, value.casefold()), rule)
        self._stages = {s.id for s in self.journey.stages}

    @property
    def backend_name(self) -> str:
        return self.model.backend.name

    def classify(self, feedback: Feedback) -> Classification:
        """Classify one item."""
        return self.classify_many([feedback])[0]

    def classify_many(self, items: Sequence[Feedback]) -> list[Classification]:
        """Classify a batch; the text model vectorises every item that needs it in one call."""
        model = self.model  # once: a retrain may swap `self.model` while a batch is being classified
        decisions: list[StageDecision | None] = [self._decide_without_text_model(f) for f in items]
        written = [i for i, f in enumerate(items) if (f.text or "").strip()]
        languages: list[Language | None] = [None] * len(items)
        for i, detected in zip(written, detect_many([items[i].text for i in written]), strict=True):
            languages[i] = detected
        readable = set(getattr(model.backend, "languages", None) or ["en"]) | {"und"}
        for i, language in enumerate(languages):
            if decisions[i] is not None or language is None:
                continue
            if not language.supported:
                decisions[i] = StageDecision(UNASSIGNED, 0.0, Method.fallback, language.reason)
            elif (
                language.code not in readable and language.confidence >= 0.9 and len((items[i].text or "").split()) >= 4
            ):
                # e.g. an English-only map: no words of this language to go on (a short or unsure text still gets
                # the English model: "refund pls" is not German)
                why = f"{language.reason}: the journey map has no keywords in it"
                decisions[i] = StageDecision(UNASSIGNED, 0.0, Method.fallback, why)
        pending = [i for i, d in enumerate(decisions) if d is None and (items[i].text or "").strip()]
        if pending:
            texts = [items[i].text or "" for i in pending]
            backend = model.backend
            explained = getattr(backend, "predict_explained", None)
            if explained is not None:  # one vectorisation gives probabilities and explanations
                probs, reasons = explained(texts)
            else:
                probs, reasons = backend.predict_proba(texts), [None] * len(texts)
            ranked = np.argsort(-probs, axis=1, kind="stable")[:, :2].tolist()  # best and runner-up, per row
            for i, row, order, reason in zip(pending, probs, ranked, reasons, strict=True):
                decisions[i] = self._model_decision(model, items[i].text or "", row, order, reason)
        out = []
        for item, decision, language in zip(items, decisions, languages, strict=True):
            if decision is None:
                decision = StageDecision(
                    UNASSIGNED, 0.0, Method.fallback, "no text, no trusted stage hint and no metadata rule matched"
                )
            code = language.code if language is not None and language.supported else None
            if language is not None and not language.supported:
                # No lexicon for it: the text gives no sentiment (scores still do) and no severity signal.
                sentiment = sentiment_of(None, item.scores)
                sentiment = sentiment.model_copy(update={"explanation": f"{language.reason}; {sentiment.explanation}"})
                severity, severity_reason = Severity.normal, f"unsupported language '{language.code}': not read"
            else:
                sentiment = sentiment_of(item.text, item.scores, code)
                severity, severity_reason = severity_of(item.text, sentiment, code)
            out.append(
                Classification(
                    stage=decision.stage,
                    confidence=round(decision.confidence, 4),
                    method=decision.method,
                    explanation=decision.explanation,
                    sentiment=sentiment,
                    severity=severity,
                    severity_reason=severity_reason,
                    backend=model.backend.name if decision.method is Method.model else None,
                    model_version=model.version if decision.method is Method.model else None,
                    language=language.code if language is not None else None,
                    language_confidence=language.confidence if language is not None else None,
                )
            )
        return out

    def _decide_without_text_model(self, feedback: Feedback) -> StageDecision | None:
        hint = (feedback.stage_hint or "").strip()
        if hint and self.trust_stage_hints and hint in self._stages:
            return StageDecision(hint, 1.0, Method.hint, f"stage hint '{hint}' from source '{feedback.source}'")
        for name, value in feedback.metadata.items():
            rule = self._rules.get((name, value.strip().casefold()))
            if rule is not None:
                return StageDecision(
                    rule.stage, rule.confidence, Method.rule, f"metadata rule '{rule.id}': {name}={value}"
                )
        return None

    def _model_decision(
        self, model: TrainedModel, text: str, row: np.ndarray, order: list[int], reason: str | None
    ) -> StageDecision:
        classes = model.backend.classes
        best, best_p = classes[order[0]], float(row[order[0]])
        runner_up = f"{classes[order[1]]} {float(row[order[1]]):.2f}" if len(order) > 1 else "none"
        if best_p < self.threshold:
            why = (
                f"unsure: best guess '{best}' at {best_p:.2f} is below the threshold {self.threshold:.2f} "
                f"(next: {runner_up}); left for triage"
            )
            return StageDecision(UNASSIGNED, best_p, Method.model, why)
        words = reason if reason is not None else model.backend.explain(text, best)
        why = f"{model.backend.name} model: '{best}' at {best_p:.2f} (next: {runner_up})"
        return StageDecision(best, best_p, Method.model, f"{why}; {words}" if words else why)
