"""Training data (journey map, labelled CSVs, corrections) and versioned model artifacts."""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import joblib

from services.classify.backends import PerLanguageBackend, TextBackend, make_backend
from services.classify.models import Correction, LabelledText, ModelInfo
from shared.models import utcnow

if TYPE_CHECKING:
    from shared.journey import JourneyMap

log = logging.getLogger(__name__)

ARTIFACT = "model.joblib"
META = "meta.json"
CORRECTIONS = "corrections.jsonl"


@dataclass
class TrainedModel:
    """A fitted back-end and what is known about how it was made."""

    backend: TextBackend
    version: str
    trained_at: datetime
    rows: int
    source: str

    def info(self, threshold: float) -> ModelInfo:
        return ModelInfo(
            backend=self.backend.name,
            version=self.version,
            trained_at=self.trained_at,
            rows=self.rows,
            stages=list(self.backend.classes),
            confidence_threshold=threshold,
            source=self.source,
        )


def journey_rows(journey: JourneyMap) -> list[LabelledText]:
    """The map's example phrases, keywords (every language's) and descriptions, each labelled with its stage."""
    rows: list[LabelledText] = []
    for stage in journey.stages:
        texts = [*stage.examples, *stage.keywords]
        if stage.description:
            texts.append(stage.description)
        rows += [LabelledText(text=t, stage=stage.id, language="en") for t in texts if t.strip()]
        for language, keywords in stage.keywords_by_language.items():
            rows += [LabelledText(text=t, stage=stage.id, language=language) for t in keywords if t.strip()]
    return rows


def read_labelled_csv(path: str | Path, *, known_stages: Iterable[str] | None = None) -> list[LabelledText]:
    """Rows of a `text,stage` CSV (an optional `language` column is kept, other columns are ignored); an unknown
    stage is an error, not a silent skip."""
    known = set(known_stages) if known_stages is not None else None
    rows: list[LabelledText] = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"text", "stage"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: needs a header with 'text' and 'stage' columns")
        for line, row in enumerate(reader, start=2):
            text, stage = (row.get("text") or "").strip(), (row.get("stage") or "").strip()
            if not text or not stage:
                continue
            if known is not None and stage not in known:
                raise ValueError(f"{path}:{line}: unknown stage {stage!r}; the journey map has {sorted(known)}")
            language = (row.get("language") or "").strip() or None
            rows.append(LabelledText(text=text, stage=stage, language=language))
    return rows


class CorrectionStore:
    """Corrections kept as JSON lines in the model directory; the latest correction of an item wins."""

    def __init__(self, model_dir: Path) -> None:
        self.path = Path(model_dir) / CORRECTIONS

    def append(self, corrections: Sequence[Correction]) -> None:
        """Append and fsync, so a correction is durable before its offset is committed."""
        if not corrections:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            for item in corrections:
                fh.write(item.model_dump_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def erase(self, feedback_ids: Iterable[str]) -> int:
        """Drop every correction of these items (a customer's erasure); rewrite the file atomically. Returns how
        many lines were removed."""
        gone = set(feedback_ids)
        if not gone or not self.path.exists():
            return 0
        kept, removed = [], 0
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip() and Correction.model_validate_json(line).id in gone:
                    removed += 1
                elif line.strip():
                    kept.append(line if line.endswith("\n") else line + "\n")
        if removed:
            temp = self.path.with_suffix(".erasing")
            with open(temp, "w", encoding="utf-8") as fh:
                fh.writelines(kept)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, self.path)
        return removed

    def read(self) -> list[Correction]:
        if not self.path.exists():
            return []
        latest: dict[str, Correction] = {}
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    item = Correction.model_validate_json(line)
                    latest[item.id] = item
        return list(latest.values())

    def training_rows(self, known_stages: Iterable[str]) -> tuple[list[LabelledText], int]:
        """Corrections usable for training (with text, to a known stage), and how many were left out."""
        known = set(known_stages)
        rows, skipped = [], 0
        for item in self.read():
            if item.text and item.text.strip() and item.stage in known:
                rows.append(LabelledText(text=item.text, stage=item.stage))
            else:
                skipped += 1
        return rows, skipped


def fit(
    backend_name: str,
    rows: Sequence[LabelledText],
    *,
    source: str,
    version: str | None = None,
    fine_tune_steps: int = 0,
) -> TrainedModel:
    """Train a fresh back-end on the rows (semantic back-ends: fine-tune the encoder first, if asked)."""
    if len({r.stage for r in rows}) < 2:
        raise ValueError("training needs labelled rows of at least two stages")
    languages = [_row_language(r) for r in rows]
    backend: TextBackend
    if set(languages) - {"en"}:  # rows in other languages: one model per language (PerLanguageBackend)
        routed = PerLanguageBackend(backend_name, fine_tune_steps=fine_tune_steps)
        routed.fit([r.text for r in rows], [r.stage for r in rows], languages)
        backend = routed
    else:
        backend = make_backend(backend_name, fine_tune_steps=fine_tune_steps)
        backend.fit([r.text for r in rows], [r.stage for r in rows])
    now = utcnow()
    return TrainedModel(
        backend=backend,
        version=version or f"{now:%Y%m%dT%H%M%S}-{backend_name}",
        trained_at=now,
        rows=len(rows),
        source=source,
    )


def _row_language(row: LabelledText) -> str:
    """The row's language as labelled; else detected, when the text is long enough to tell (a correction, a CSV
    row); else English. Only the supported languages get a model of their own."""
    from services.classify.language import SUPPORTED, detect

    language = row.language
    if language is None and len(row.text.split()) >= 4:
        language = detect(row.text).code
    return language if language in SUPPORTED else "en"


def save(model: TrainedModel, model_dir: Path, *, extra: dict[str, object] | None = None) -> Path:
    """Write `<model_dir>/<version>/model.joblib` and `meta.json`; returns the version directory."""
    target = Path(model_dir) / model.version
    target.mkdir(parents=True, exist_ok=False)
    tmp = target / (ARTIFACT + ".tmp")
    joblib.dump(model.backend, tmp)
    tmp.rename(target / ARTIFACT)
    meta = {
        "version": model.version,
        "backend": model.backend.name,
        "trained_at": model.trained_at.isoformat(),
        "rows": model.rows,
        "stages": model.backend.classes,
        **(extra or {}),
    }
    (target / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return target


def available_versions(model_dir: Path, backend_name: str) -> list[str]:
    """Versions of `backend_name` in the directory, oldest first (version names sort by time)."""
    root = Path(model_dir)
    if not root.is_dir():
        return []
    found = []
    for meta_path in root.glob(f"*/{META}"):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("backend") == backend_name and (meta_path.parent / ARTIFACT).exists():
            found.append(meta_path.parent.name)
    return sorted(found)


def load(model_dir: Path, version: str) -> TrainedModel:
    """Load one artifact. The model directory must be trusted: joblib files are pickles."""
    target = Path(model_dir) / version
    meta = json.loads((target / META).read_text(encoding="utf-8"))
    backend: TextBackend = joblib.load(target / ARTIFACT)
    return TrainedModel(
        backend=backend,
        version=meta["version"],
        trained_at=datetime.fromisoformat(meta["trained_at"]),
        rows=int(meta["rows"]),
        source="artifact",
    )


def load_or_train(
    *, journey: JourneyMap, backend_name: str, model_dir: Path, pinned: str | None = None
) -> TrainedModel:
    """The pinned artifact, else the newest one for this back-end, else a model trained now from the journey map."""
    if pinned:
        if not (Path(model_dir) / pinned / ARTIFACT).exists():
            raise FileNotFoundError(f"pinned model version {pinned!r} is not in {model_dir}")
        model = load(model_dir, pinned)
    else:
        versions = available_versions(model_dir, backend_name)
        if not versions:
            log.info("no model artifact; training from the journey map", extra={"backend": backend_name})
            return fit(backend_name, journey_rows(journey), source="journey-map", version=f"map-{backend_name}")
        model = load(model_dir, versions[-1])
    unknown = set(model.backend.classes) - {s.id for s in journey.stages}
    if unknown:
        raise ValueError(f"model {model.version} knows stages the journey map lacks: {sorted(unknown)}")
    log.info("loaded model artifact", extra={"version": model.version, "backend": model.backend.name})
    return model
