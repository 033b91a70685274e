"""`journeyline classify train|evaluate|retrain|models|rollback|learning-curve`: build versioned models, measure them
on labelled CSVs, promote or roll back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from services.classify.backends import BACKENDS

DATA_DIR = Path(__file__).with_name("data")
HELDOUT = DATA_DIR / "heldout.csv"
DOMAINS = DATA_DIR / "domains"  # <name>/{journey.yaml,train.csv,test.csv}: new domains with their own stages
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

    retrain = inner.add_parser(
        "retrain",
        help="train a candidate on the map, CSVs and corrections; promote it only if it is not worse than the "
        "current model on the held-out corrections and the shipped evaluation sets",
    )
    retrain.add_argument(
        "--data", type=Path, action="append", default=[], help="labelled CSV (default: those of the current model)"
    )
    _common(retrain)
    retrain.add_argument("--model-dir", type=Path, default=None, help="where artifacts are (CLASSIFY_MODEL_DIR)")
    retrain.add_argument(
        "--tolerance", type=float, default=None, help="largest macro-F1 drop on a set still 'not worse' (0.01)"
    )
    retrain.add_argument("--threshold", type=float, default=None, help="confidence threshold (default: the map's)")
    retrain.set_defaults(func=_retrain)

    models = inner.add_parser("models", help="list every model version with its figures; * marks the current one")
    models.add_argument("--backend", choices=BACKENDS, default=None, help="only this back-end's versions")
    models.add_argument("--model-dir", type=Path, default=None, help="where artifacts are (CLASSIFY_MODEL_DIR)")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.set_defaults(func=_models)

    back = inner.add_parser("rollback", help="serve VERSION, or the version served before the current one")
    back.add_argument("version", nargs="?", default=None, metavar="VERSION")
    back.add_argument("--backend", choices=BACKENDS, default=None, help="text back-end (CLASSIFY_BACKEND)")
    back.add_argument("--model-dir", type=Path, default=None, help="where artifacts are (CLASSIFY_MODEL_DIR)")
    back.set_defaults(func=_rollback)

    curve = inner.add_parser(
        "learning-curve",
        help="macro-F1 on a domain's held-out items after training on 10, 25, 50, 100, all labelled items per stage",
    )
    curve.add_argument(
        "--domain",
        action="append",
        default=[],
        help=f"a domain under {DOMAINS} (repeatable; default: all of them); or give --journey-map, --train, --test",
    )
    curve.add_argument("--train", type=Path, default=None, help="labelled training CSV of the domain")
    curve.add_argument("--test", type=Path, default=None, help="labelled held-out CSV of the domain")
    curve.add_argument("--sizes", default="10,25,50,100,all", help="items per stage (comma-separated; 'all')")
    curve.add_argument("--seeds", type=int, default=3, help="random draws per size (averaged); 'all' is drawn once")
    _common(curve)
    curve.add_argument("--threshold", type=float, default=None, help="confidence threshold (default: the map's)")
    curve.set_defaults(func=_learning_curve)


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
    if getattr(args, "backend", None):
        overrides["backend"] = args.backend
    if getattr(args, "journey_map", None):
        overrides["journey_map"] = args.journey_map
    if getattr(args, "model_dir", None):
        overrides["model_dir"] = args.model_dir
    return ClassifySettings(**overrides)


def _train(args: argparse.Namespace) -> int:
    from services.classify.model_store import new_version, save, set_current
    from services.classify.training import CorrectionStore, fingerprint, fit, journey_rows, read_labelled_csv
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
    corrections: list[Any] = []
    if not args.no_corrections:
        store = CorrectionStore(settings.model_dir)
        corrections, skipped = store.training_rows(stages)
        held = len(store.heldout_rows(stages))
        print(
            f"corrections: {len(corrections)} rows ({held} held out for measuring, {skipped} without text or to an "
            "unknown stage left out)"
        )
        rows += corrections
    try:
        version = new_version(settings.model_dir, settings.backend)
        model = fit(settings.backend, rows, source="artifact", version=version, fine_tune_steps=args.fine_tune)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model.fingerprint = fingerprint(rows, settings.backend, args.fine_tune)
    meta: dict[str, object] = {
        "data": [str(p.resolve()) for p in args.data],
        "fine_tune_steps": args.fine_tune,
        "status": "trained",
        "corrections": len(corrections),
    }
    target = save(model, settings.model_dir, extra=meta)
    set_current(settings.model_dir, settings.backend, model.version)  # `train` is explicit: it is served next
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


def _threshold(args: argparse.Namespace, journey: Any) -> float:
    from services.classify.settings import ClassifySettings

    if getattr(args, "threshold", None) is not None:
        return float(args.threshold)
    configured = ClassifySettings().confidence_threshold
    return configured if configured is not None else float(journey.triage.confidence_threshold)


def _retrain(args: argparse.Namespace) -> int:
    from services.classify.retrain import retrain
    from shared.journey import load_journey_map

    settings = _settings(args)
    journey = load_journey_map(settings.journey_map)
    threshold = _threshold(args, journey)
    tolerance = args.tolerance if args.tolerance is not None else settings.retrain_tolerance
    try:
        result = retrain(
            journey=journey,
            backend_name=settings.backend,
            model_dir=settings.model_dir,
            threshold=threshold,
            data=args.data,
            tolerance=tolerance,
            fine_tune_steps=args.fine_tune or None,  # none given: as the current model was trained
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"candidate {result.candidate}: {result.rows} rows ({result.corrections} corrections; "
        f"{result.heldout_corrections} held out for measuring); threshold={threshold:.2f} tolerance={tolerance:.3f}"
    )
    print(f"{'set':<24}{'items':>7}{'current':>10}{'candidate':>11}")
    for name, figures in result.current_figures.items():
        after = result.candidate_figures[name]["macro_f1"]
        mark = "  worse" if name in result.worse else ""
        print(f"{name:<24}{int(figures['items']):>7}{figures['macro_f1']:>10.3f}{after:>11.3f}{mark}")
    print(result.decision)
    print(f"current={result.candidate if result.promoted else result.current}")
    return 0


def _models(args: argparse.Namespace) -> int:
    import json

    from services.classify.model_store import list_models

    settings = _settings(args)
    versions = list_models(settings.model_dir, args.backend)
    if args.json:
        print(json.dumps([v.model_dump(mode="json") for v in versions], indent=2))
        return 0
    if not versions:
        print(f"no model versions in {settings.model_dir}")
        return 0
    sets = sorted({name for v in versions for name in v.figures})
    print(f"  {'version':<34}{'backend':<10}{'status':<10}{'rows':>6}  " + "".join(f"{n[:22]:>23}" for n in sets))
    for v in versions:
        cells = "".join(
            (f"{v.figures[n]['macro_f1']:.3f} ({int(v.figures[n]['items'])})" if n in v.figures else "-").rjust(23)
            for n in sets
        )
        print(f"{'*' if v.current else ' '} {v.version:<34}{v.backend:<10}{v.status:<10}{v.rows:>6}  {cells}")
    print(
        "figures: macro_f1 (items) per evaluation set when the version was made (or first compared); the held-out "
        "corrections grow, so compare versions with `retrain`, which measures both on the same items; * = current"
    )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from services.classify.model_store import rollback

    settings = _settings(args)
    try:
        before, after = rollback(settings.model_dir, settings.backend, args.version)
    except (OSError, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"rolled back {settings.backend}: {before} -> {after} (a running service loads it within its reload interval)"
    )
    return 0


def _learning_curve(args: argparse.Namespace) -> int:
    from services.classify.learning import domain_files, learning_curve, parse_sizes
    from shared.journey import load_journey_map

    try:
        sizes = parse_sizes(args.sizes)
        if args.train or args.test:
            if not (args.train and args.test and args.journey_map):
                raise ValueError("give --journey-map, --train and --test together (or --domain)")
            name = args.train.stem.removesuffix("_train").removesuffix("train").strip("_-") or args.train.parent.name
            runs = [(name, args.journey_map, args.train, args.test)]
        else:
            runs = domain_files(DOMAINS, args.domain)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    backend = args.backend or "tfidf"
    for name, map_path, train, test in runs:
        journey = load_journey_map(map_path)
        threshold = args.threshold if args.threshold is not None else journey.triage.confidence_threshold
        print(f"domain={name} backend={backend} threshold={threshold:.2f} map={map_path} train={train} test={test}")
        curve = learning_curve(
            journey,
            train,
            test,
            backend=backend,
            sizes=sizes,
            seeds=args.seeds,
            threshold=threshold,
            fine_tune_steps=args.fine_tune,
        )
        print(f"{'per_stage':>10}{'train_rows':>12}{'macro_f1':>10}{'min':>8}{'max':>8}{'top1':>8}{'unassigned':>12}")
        for point in curve:
            print(
                f"{point.label:>10}{point.train_rows:>12}{point.macro_f1:>10.3f}{point.low:>8.3f}{point.high:>8.3f}"
                f"{point.top1:>8.3f}{point.unassigned:>12.3f}",
                flush=True,
            )
        print()
    return 0
