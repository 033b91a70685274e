"""How fast a new domain learns: macro-F1 on its held-out items after training on k labelled items per stage."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.classify.evaluation import evaluate
from services.classify.models import LabelledText
from services.classify.service import Classifier
from services.classify.training import fit, journey_rows, read_labelled_csv
from shared.journey import JourneyMap


@dataclass
class CurvePoint:
    label: str  # items per stage asked for ("10", "all")
    train_rows: int  # labelled rows trained on (mean over draws), besides the map's own rows
    macro_f1: float  # mean over draws; `unassigned` counts as a miss
    low: float
    high: float
    top1: float  # the model's best guess without the threshold
    unassigned: float


def parse_sizes(text: str) -> list[int | None]:
    """'10,25,all' -> [10, 25, None]."""
    sizes: list[int | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "all":
            sizes.append(None)
            continue
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"--sizes: {part!r} is not a number of items per stage or 'all'")
        sizes.append(int(part))
    if not sizes:
        raise ValueError("--sizes: give at least one size")
    return sizes


def domain_files(root: Path, names: Sequence[str]) -> list[tuple[str, Path, Path, Path]]:
    """(name, journey map, train CSV, test CSV) of each domain directory asked for (all, when none is)."""
    found = sorted(p.name for p in root.iterdir() if (p / "journey.yaml").exists()) if root.is_dir() else []
    chosen = list(names) or found
    unknown = [n for n in chosen if n not in found]
    if unknown:
        raise ValueError(f"unknown domain {unknown[0]!r}; there are {found}")
    return [(n, root / n / "journey.yaml", root / n / "train.csv", root / n / "test.csv") for n in chosen]


def sample_per_stage(rows: Sequence[LabelledText], per_stage: int | None, seed: int) -> list[LabelledText]:
    """At most `per_stage` rows of each stage, drawn at random (all of them when None)."""
    if per_stage is None:
        return list(rows)
    by_stage: dict[str, list[LabelledText]] = {}
    for row in rows:
        by_stage.setdefault(row.stage, []).append(row)
    draw = random.Random(seed)
    out: list[LabelledText] = []
    for stage in sorted(by_stage):
        items = by_stage[stage]
        out += draw.sample(items, min(per_stage, len(items)))
    return out


def learning_curve(
    journey: JourneyMap,
    train_path: Path,
    test_path: Path,
    *,
    backend: str = "tfidf",
    sizes: Sequence[int | None] = (10, 25, 50, 100, None),
    seeds: int = 3,
    threshold: float | None = None,
    fine_tune_steps: int = 0,
) -> list[CurvePoint]:
    """Train on the map's rows plus k items per stage of the training file (several random draws per k), and
    measure each model on the whole test file as the service would classify it. A size at least as large as every
    stage's row count is the same as 'all' and is skipped (unless it is 'all')."""
    stages = [s.id for s in journey.stages]
    train = read_labelled_csv(train_path, known_stages=stages)
    test = read_labelled_csv(test_path, known_stages=stages)
    if not train or not test:
        raise ValueError(f"{train_path if not train else test_path}: no labelled rows")
    largest = max(sum(1 for r in train if r.stage == s) for s in stages)
    cut = threshold if threshold is not None else journey.triage.confidence_threshold
    base = journey_rows(journey)
    points = []
    for size in sizes:
        if size is not None and size >= largest:
            continue
        draws = range(seeds) if size is not None else range(1)
        scores, top1, unassigned, counts = [], [], [], []
        for seed in draws:
            picked = sample_per_stage(train, size, seed)
            model = fit(backend, [*base, *picked], source="learning-curve", fine_tune_steps=fine_tune_steps)
            result = evaluate(Classifier(journey, model, cut), test)
            scores.append(result.macro_f1)
            top1.append(result.top1_macro_f1)
            unassigned.append(result.unassigned_share)
            counts.append(len(picked))
        points.append(
            CurvePoint(
                label=str(size) if size is not None else f"all({largest})",
                train_rows=round(sum(counts) / len(counts)),
                macro_f1=sum(scores) / len(scores),
                low=min(scores),
                high=max(scores),
                top1=sum(top1) / len(top1),
                unassigned=sum(unassigned) / len(unassigned),
            )
        )
    return points
