"""Training data (journey map, labelled CSVs, corrections with their held-out share) and fitting a model on it;
the versions on disk are `model_store`'s, retraining safely is `retrain`'s."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from services.classify.backends import TextBackend
from services.classify.models import Correction, LabelledText
from services.classify.multilingual import PerLanguageBackend, make_backend
from services.classify.trained import TrainedModel
from shared.models import utcnow

if TYPE_CHECKING:
    from shared.journey import JourneyMap

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)

CORRECTIONS = "corrections.jsonl"
DATA_DIR = Path(__file__).with_name("data")
HELD_OUT_SHARE = 5  # one correction in five (by a hash of the item id) is never trained on: it measures candidates
# Bump when a back-end's training changes in a way the code hash below would not see (e.g. a dependency's behaviour).
MODEL_FORMAT = 1


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
        """Corrections usable for training (with text, to a known stage, not held out), and how many were left out
        for having no text or an unknown stage (the held-out ones are not counted: see `heldout_rows`)."""
        rows, skipped = self._usable(known_stages)
        return [r for i, r in rows if not is_held_out(i)], skipped

    def heldout_rows(self, known_stages: Iterable[str]) -> list[LabelledText]:
        """The corrections kept for measuring (about one in five, chosen by item id, so always the same ones):
        no model trained here ever sees them."""
        rows, _ = self._usable(known_stages)
        return [r for i, r in rows if is_held_out(i)]

    def _usable(self, known_stages: Iterable[str]) -> tuple[list[tuple[str, LabelledText]], int]:
        known = set(known_stages)
        rows, skipped = [], 0
        for item in self.read():
            if item.text and item.text.strip() and item.stage in known:
                rows.append((item.id, LabelledText(text=item.text, stage=item.stage)))
            else:
                skipped += 1
        return rows, skipped


def is_held_out(item_id: str) -> bool:
    """Whether a correction of this item is kept out of training to measure candidates (stable across runs)."""
    digest = hashlib.sha256(item_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % HELD_OUT_SHARE == 0


def fingerprint(rows: Sequence[LabelledText], backend_name: str, fine_tune_steps: int = 0) -> str:
    """A hash of everything a trained model depends on: its rows (text, stage, language), the back-end and its
    settings, the code that trains it and the library versions whose pickles it holds. Same hash, same model."""
    import numpy
    import sklearn

    from services.classify import backends, encoder, language, multilingual, onnx_encoder, semantic, text

    digest = hashlib.sha256()
    header = {
        "format": MODEL_FORMAT,
        "backend": backend_name,
        "fine_tune_steps": fine_tune_steps,
        # the sentence encoder a semantic model embeds with (CLASSIFY_ENCODER): another one is another model
        "encoder": semantic.default_encoder() if backend_name != "tfidf" else None,
        "sklearn": sklearn.__version__,
        "numpy": numpy.__version__,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for module in (backends, encoder, language, multilingual, onnx_encoder, semantic, text):
        digest.update(Path(str(module.__file__)).read_bytes())
    for row in rows:
        digest.update(json.dumps([row.text, row.stage, row.language], ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


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
