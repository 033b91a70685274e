"""`journeyline classify train|evaluate`: build versioned models, measure them on labelled CSVs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from services.classify.backends import BACKENDS

DATA_DIR = Path(__file__).with_name("data")
HELDOUT = DATA_DIR / "heldout.csv"
DEFAULT_FINE_TUNE_STEPS = 300


def register(sub: Any) -> None:
    parser = sub.add_parser("classify", help="train and evaluate the stage classifier")
    inner = parser.add_subparsers(dest="classify_command", required=True, metavar="ACTION")

    train = inner.add_parser("train", help="train a versioned model from the journey map, CSVs and corrections")
    train.add_argument("--data", type=Path, action="append", default=[], help="labelled text,stage CSV (repeatable)")
    _common(train)
    train.add_argument("--model-dir", type=Path, default=None, help="where artifacts go (CLASSIFY_MODEL_DIR)")
    train.add_argument("--no-corrections", action="store_true", help="leave out the stored stage corrections")
    train.set_defaults(func=_train)

    evaluate = inner.add_parser("evaluate", help="print per-stage precision/recall/F1 and macro_f1 on a labelled CSV")
    evaluate.add_argument("--data", type=Path, default=HELDOUT, help=f"labelled text,stage CSV (default {HELDOUT})")
    evaluate.add_argument(
        "--train", type=Path, action="append", default=[], help="also train on this CSV before measuring"
    )
    _common(evaluate)
    evaluate.add_argument("--threshold", type=float, default=None, help="confidence threshold (default: the map's)")
    evaluate.set_defaults(func=_evaluate)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="text back-end (default CLASSIFY_BACKEND); with the [semantic] extra, 'ensemble' is the most accurate",
    )
    parser.add_argument("--journey-map", type=Path, default=None, help="journey map YAML (JOURNEYLINE_JOURNEY_MAP)")
    parser.add_argument(
        "--fine-tune",
        type=_steps,
        nargs="?",
        const=DEFAULT_FINE_TUNE_STEPS,
        default=0,
        metavar="STEPS",
        help=f"semantic/ensemble only: train a contrastive adapter over the encoder's embeddings on the training rows "
        f"first ({DEFAULT_FINE_TUNE_STEPS} steps if no number is given; milliseconds per step)",
    )


def _steps(text: str) -> int:
    try:
        steps = int(text)
    except ValueError:
        steps = 0
    if steps < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of steps of at least 1, got {text!r}")
    return steps


def _settings(args: argparse.Namespace) -> Any:
    from services.classify.settings import ClassifySettings

    overrides: dict[str, Any] = {}
    if args.backend:
        overrides["backend"] = args.backend
    if args.journey_map:
        overrides["journey_map"] = args.journey_map
    if getattr(args, "model_dir", None):
        overrides["model_dir"] = args.model_dir
    return ClassifySettings(**overrides)


def _train(args: argparse.Namespace) -> int:
    from services.classify.training import CorrectionStore, fit, journey_rows, read_labelled_csv, save
    from shared.journey import load_journey_map

    settings = _settings(args)
    journey = load_journey_map(settings.journey_map)
    stages = [s.id for s in journey.stages]
    rows = journey_rows(journey)
    print(f"journey map examples: {len(rows)} rows")
    try:
        for path in args.data:
            extra = read_labelled_csv(path, known_stages=stages)
            print(f"{path}: {len(extra)} rows")
            rows += extra
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.no_corrections:
        corrections, skipped = CorrectionStore(settings.model_dir).training_rows(stages)
        print(f"corrections: {len(corrections)} rows ({skipped} without text or to an unknown stage left out)")
        rows += corrections
    try:
        model = fit(settings.backend, rows, source="artifact", fine_tune_steps=args.fine_tune)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta: dict[str, object] = {"data": [str(p) for p in args.data], "fine_tune_steps": args.fine_tune}
    target = save(model, settings.model_dir, extra=meta)
    tuned = f", encoder fine-tuned for {args.fine_tune} steps" if args.fine_tune else ""
    print(f"trained {settings.backend} on {len(rows)} rows{tuned}")
    print(f"version={model.version} path={target}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from services.classify.evaluation import evaluate, report
    from services.classify.service import Classifier
    from services.classify.training import fit, journey_rows, read_labelled_csv
    from shared.journey import load_journey_map

    settings = _settings(args)
    journey = load_journey_map(settings.journey_map)
    stages = [s.id for s in journey.stages]
    try:
        rows = journey_rows(journey)
        for path in args.train:
            rows += read_labelled_csv(path, known_stages=stages)
        test = read_labelled_csv(args.data, known_stages=stages)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not test:
        print(f"error: {args.data} has no labelled rows", file=sys.stderr)
        return 2
    try:
        model = fit(settings.backend, rows, source="evaluate", fine_tune_steps=args.fine_tune)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    threshold = args.threshold if args.threshold is not None else journey.triage.confidence_threshold
    classifier = Classifier(journey, model, threshold)
    trained_on = " + ".join(["journey map", *(str(p) for p in args.train)])
    tuned = f" fine_tune_steps={args.fine_tune}" if args.fine_tune else ""
    print(f"backend={settings.backend}{tuned} threshold={threshold:.2f} trained_on={trained_on} ({len(rows)} rows)")
    print(f"data={args.data} ({len(test)} rows)\n")
    print(report(evaluate(classifier, test)))
    return 0
