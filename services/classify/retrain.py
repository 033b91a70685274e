"""Keeping on learning, safely: a candidate trained on the corrections is measured against the current model on
held-out corrections and the shipped evaluation sets, and promoted only if it is not worse; `ModelKeeper` retrains
after N new corrections and follows a rollback made elsewhere."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from services.classify.model_store import (
    ARTIFACT,
    META,
    current_version,
    load,
    load_or_train,
    new_version,
    read_meta,
    save,
    set_current,
    update_meta,
)
from services.classify.models import LabelledText
from services.classify.trained import TrainedModel
from services.classify.training import DATA_DIR, CorrectionStore, fingerprint, fit, journey_rows, read_labelled_csv

if TYPE_CHECKING:
    from services.classify.service import Classifier
    from services.classify.settings import ClassifySettings
    from shared.journey import JourneyMap

log = logging.getLogger(__name__)

# is in the journey map: a company's own map with other stages is measured on its held-out corrections only.
SHIPPED_SETS = ("heldout.csv", "heldout_independent.csv", "heldout_multilingual.csv", "heldout_swedish_fresh.csv")


def evaluation_sets(journey: JourneyMap, store: CorrectionStore | None) -> dict[str, list[LabelledText]]:
    """The held-out corrections (if any) and every shipped evaluation set whose stages are all in the map."""
    stages = [s.id for s in journey.stages]
    sets: dict[str, list[LabelledText]] = {}
    if store is not None:
        held = store.heldout_rows(stages)
        if held:
            sets["corrections"] = held
    for name in SHIPPED_SETS:
        try:
            rows = read_labelled_csv(DATA_DIR / name, known_stages=stages)
        except (OSError, ValueError):
            continue
        if rows:
            sets[name.removesuffix(".csv")] = rows
    return sets


def measure(
    journey: JourneyMap, model: TrainedModel, threshold: float, sets: dict[str, list[LabelledText]]
) -> dict[str, dict[str, float]]:
    """Macro-F1 (an `unassigned` answer counts as a miss, as the service decides) on each set."""
    from services.classify.evaluation import evaluate
    from services.classify.service import Classifier

    classifier = Classifier(journey, model, threshold)
    out = {}
    for name, rows in sets.items():
        result = evaluate(classifier, rows)
        out[name] = {"macro_f1": round(result.macro_f1, 4), "items": len(rows)}
    return out


@dataclass
class RetrainResult:
    current: str
    candidate: str
    promoted: bool
    current_figures: dict[str, dict[str, float]]
    candidate_figures: dict[str, dict[str, float]]
    worse: list[str]  # the sets on which the candidate fell below the current model by more than the tolerance
    rows: int
    corrections: int
    heldout_corrections: int

    @property
    def decision(self) -> str:
        if self.promoted:
            return f"promoted: not worse than {self.current} on any set"
        return "rejected: worse than " + self.current + " on " + ", ".join(self.worse)


def retrain(
    *,
    journey: JourneyMap,
    backend_name: str,
    model_dir: Path,
    threshold: float,
    data: Sequence[Path] = (),
    tolerance: float = 0.01,
    fine_tune_steps: int | None = None,
    sets: dict[str, list[LabelledText]] | None = None,
    current: TrainedModel | None = None,
) -> RetrainResult:
    """Train a candidate on the map, the labelled CSVs (those given, else those the current model was trained on)
    and the stored corrections except the held-out ones; measure it and the current model on the held-out
    corrections and the shipped evaluation sets; save it with its figures, and make it current only if no set's
    macro-F1 is lower than the current model's by more than `tolerance`."""
    model_dir = Path(model_dir)
    stages = [s.id for s in journey.stages]
    if current is None:
        current = load_or_train(journey=journey, backend_name=backend_name, model_dir=model_dir)
    current_meta = read_meta(model_dir, current.version)
    paths = [Path(p) for p in data] or [Path(p) for p in current_meta.get("data", [])]
    if fine_tune_steps is None:  # as the current model was made
        fine_tune_steps = int(current_meta.get("fine_tune_steps") or 0)
    rows = journey_rows(journey)
    for path in paths:
        rows += read_labelled_csv(path, known_stages=stages)
    store = CorrectionStore(model_dir)
    corrections, _ = store.training_rows(stages)
    rows += corrections
    if sets is None:
        sets = evaluation_sets(journey, store)
    candidate = fit(
        backend_name,
        rows,
        source="artifact",
        version=new_version(model_dir, backend_name),
        fine_tune_steps=fine_tune_steps,
    )
    candidate.fingerprint = fingerprint(rows, backend_name, fine_tune_steps)
    before = measure(journey, current, threshold, sets)
    after = measure(journey, candidate, threshold, sets)
    worse = [name for name in sets if after[name]["macro_f1"] < before[name]["macro_f1"] - tolerance]
    result = RetrainResult(
        current=current.version,
        candidate=candidate.version,
        promoted=not worse,
        current_figures=before,
        candidate_figures=after,
        worse=worse,
        rows=len(rows),
        corrections=len(corrections),
        heldout_corrections=len(sets.get("corrections", [])),
    )
    save(
        candidate,
        model_dir,
        extra={
            "status": "promoted" if result.promoted else "rejected",
            "decision": result.decision,
            "compared_with": current.version,
            "figures": after,
            "compared_figures": before,  # the current model's, measured in the same run
            "tolerance": tolerance,
            "data": [str(p) for p in paths],
            "corrections": len(corrections),
            "fine_tune_steps": fine_tune_steps,
        },
    )
    if (model_dir / current.version / META).exists() and not read_meta(model_dir, current.version).get("figures"):
        update_meta(model_dir, current.version, figures=before)  # e.g. the map's model, compared the first time
    if result.promoted:
        if current_version(model_dir, backend_name) is None and (model_dir / current.version / ARTIFACT).exists():
            set_current(model_dir, backend_name, current.version)  # so a rollback can return to it
        set_current(model_dir, backend_name, candidate.version)
    log.info(
        "retrained",
        extra={"candidate": candidate.version, "current": current.version, "promoted": result.promoted},
    )
    return result


class ModelKeeper:
    """Keeps the service's model current while it runs.

    - After `retrain_after` new stored corrections (0: never), retrains in a thread and, if the candidate is
      promoted, the service classifies with it from the next batch (`corrections_stored`, called by the
      corrections handler).
    - `watch()` (a task) checks every `reload_seconds` which version is current in the model directory and loads
      it when it changed: a `journeyline classify retrain` or `rollback` run elsewhere takes effect without a
      restart. A pinned version (`CLASSIFY_MODEL_VERSION`) turns both off.
    """

    def __init__(
        self,
        classifier: Classifier,
        *,
        model_dir: Path,
        retrain_after: int = 0,
        reload_seconds: float = 30.0,
        pinned: str | None = None,
        tolerance: float = 0.01,
    ) -> None:
        self.classifier = classifier
        self.model_dir = Path(model_dir)
        self.retrain_after = retrain_after
        self.reload_seconds = reload_seconds
        self.pinned = pinned
        self.tolerance = tolerance
        self.pending = 0
        self.last_result: RetrainResult | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[RetrainResult | None] | None = None

    @classmethod
    def from_settings(cls, classifier: Classifier, settings: ClassifySettings) -> ModelKeeper:
        return cls(
            classifier,
            model_dir=settings.model_dir,
            retrain_after=settings.retrain_after_corrections,
            reload_seconds=settings.model_reload_seconds,
            pinned=settings.model_version,
            tolerance=settings.retrain_tolerance,
        )

    @property
    def backend_name(self) -> str:
        return self.classifier.model.backend.name

    async def corrections_stored(self, count: int) -> None:
        """Count new corrections; start a retrain (in the background) once there are `retrain_after` of them."""
        if self.retrain_after <= 0 or self.pinned:
            return
        self.pending += count
        if self.pending >= self.retrain_after and (self._task is None or self._task.done()):
            self.pending = 0
            self._task = asyncio.create_task(self.retrain_now())

    async def retrain_now(self) -> RetrainResult | None:
        async with self._lock:
            try:
                result = await asyncio.to_thread(
                    retrain,
                    journey=self.classifier.journey,
                    backend_name=self.backend_name,
                    model_dir=self.model_dir,
                    threshold=self.classifier.threshold,
                    tolerance=self.tolerance,
                    current=self.classifier.model,
                )
            except Exception:
                log.exception("automatic retrain failed; the current model stays")
                return None
            self.last_result = result
            if result.promoted:
                await self._swap(result.candidate)
            return result

    async def reload_if_changed(self) -> bool:
        """Load the directory's current version if it is not the one classifying; True if it changed."""
        if self.pinned:
            return False
        version = current_version(self.model_dir, self.backend_name)
        if version is None or version == self.classifier.model.version:
            return False
        async with self._lock:
            await self._swap(version)
        return True

    async def _swap(self, version: str) -> None:
        model = await asyncio.to_thread(load, self.model_dir, version)
        unknown = set(model.backend.classes) - {s.id for s in self.classifier.journey.stages}
        if unknown:
            log.error("not loading %s: it knows stages the journey map lacks", version, extra={"unknown": unknown})
            return
        previous = self.classifier.model.version
        self.classifier.model = model  # one assignment: a batch in flight keeps the model it started with
        log.info("model changed", extra={"from": previous, "to": version})

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.reload_seconds)
            try:
                await self.reload_if_changed()
            except Exception:
                log.exception("could not load the current model version; keeping the one in use")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task], timeout=60)
