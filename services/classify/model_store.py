"""Model versions on disk: saving and loading artifacts, their metadata and figures, which version is current, the
history a rollback walks back, and the journey map's own cached model."""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib

from services.classify.backends import TextBackend
from services.classify.models import ModelInfo, ModelVersion
from services.classify.trained import TrainedModel
from services.classify.training import fingerprint, fit, journey_rows
from shared.models import utcnow

if TYPE_CHECKING:
    from shared.journey import JourneyMap

log = logging.getLogger(__name__)

ARTIFACT = "model.joblib"
META = "meta.json"


def save(model: TrainedModel, model_dir: Path, *, extra: dict[str, object] | None = None) -> Path:
    """Write `<model_dir>/<version>/model.joblib` and `meta.json`; returns the version directory. Written in a
    staging directory first and renamed into place, so a version directory is complete or absent (two processes
    saving the same version: one wins, the other gets FileExistsError)."""
    root = Path(model_dir)
    target = root / model.version
    if target.exists():
        raise FileExistsError(f"model version {model.version!r} is already in {root}")
    staging = root / f".{model.version}.{os.getpid()}.staging"
    staging.mkdir(parents=True)
    meta = {
        "version": model.version,
        "backend": model.backend.name,
        "trained_at": model.trained_at.isoformat(),
        "rows": model.rows,
        "stages": model.backend.classes,
        "source": model.source,
        "fingerprint": model.fingerprint,
        **(extra or {}),
    }
    try:
        joblib.dump(model.backend, staging / ARTIFACT)
        _write_json(staging / META, meta)
        try:
            os.rename(staging, target)
        except OSError as exc:  # another process saved this version meanwhile
            raise FileExistsError(f"model version {model.version!r} is already in {root}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    model.model_dir = root
    return target


def _write_json(path: Path, data: object) -> None:
    """Replace a small JSON file atomically (a reader sees the old or the new one, never half)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def new_version(model_dir: Path, backend_name: str) -> str:
    """`<YYYYmmddTHHMMSS>-<backend>`, with `.2`, `.3` … when that second is taken."""
    base = f"{utcnow():%Y%m%dT%H%M%S}-{backend_name}"
    version, n = base, 1
    while (Path(model_dir) / version).exists():
        n += 1
        version = f"{base}.{n}"
    return version


def read_meta(model_dir: Path, version: str) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((Path(model_dir) / version / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta


def update_meta(model_dir: Path, version: str, **changes: object) -> None:
    meta = read_meta(model_dir, version)
    if meta:
        _write_json(Path(model_dir) / version / META, {**meta, **changes})


def _pointer(model_dir: Path, backend_name: str) -> Path:
    return Path(model_dir) / f"current-{backend_name}.json"


def current_version(model_dir: Path, backend_name: str) -> str | None:
    """The version promoted (or rolled back to) last for this back-end, if any and still on disk."""
    try:
        version = json.loads(_pointer(model_dir, backend_name).read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(version, str) and (Path(model_dir) / version / ARTIFACT).exists():
        return version
    return None


def _history(model_dir: Path, backend_name: str) -> list[str]:
    try:
        history = json.loads(_pointer(model_dir, backend_name).read_text(encoding="utf-8")).get("history", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [v for v in history if isinstance(v, str)]


def set_current(model_dir: Path, backend_name: str, version: str, *, remember_previous: bool = True) -> None:
    """Make `version` the one the service loads; the one it replaces goes on the history a rollback walks back."""
    if not (Path(model_dir) / version / ARTIFACT).exists():
        raise FileNotFoundError(f"model version {version!r} is not in {model_dir}")
    previous = current_version(model_dir, backend_name)
    history = _history(model_dir, backend_name)
    if remember_previous and previous and previous != version:
        history.append(previous)
    _write_json(
        _pointer(model_dir, backend_name),
        {"version": version, "history": history[-50:], "changed_at": utcnow().isoformat()},
    )


def rollback(model_dir: Path, backend_name: str, version: str | None = None) -> tuple[str | None, str]:
    """Serve `version`, or the version served before the current one; returns (from, to). The rolled-back-from
    version stays on disk (and listed), so a rollback can itself be undone with `rollback <version>`."""
    now = current_version(model_dir, backend_name) or _newest(model_dir, backend_name)
    if version is not None:
        meta = read_meta(model_dir, version)
        if not meta or not (Path(model_dir) / version / ARTIFACT).exists():
            raise FileNotFoundError(f"model version {version!r} is not in {model_dir}")
        if meta.get("backend") != backend_name:
            raise ValueError(f"model version {version!r} is a {meta.get('backend')!r} model, not {backend_name!r}")
        set_current(model_dir, backend_name, version)
        return now, version
    history = [v for v in _history(model_dir, backend_name) if (Path(model_dir) / v / ARTIFACT).exists()]
    while history and history[-1] == now:
        history.pop()
    if not history:
        raise LookupError(f"no earlier {backend_name} model to roll back to in {model_dir}")
    target = history.pop()
    _write_json(
        _pointer(model_dir, backend_name),
        {"version": target, "history": history, "changed_at": utcnow().isoformat(), "rolled_back_from": now},
    )
    return now, target


def list_models(model_dir: Path, backend_name: str | None = None) -> list[ModelVersion]:
    """Every model version in the directory (of one back-end, if given), oldest first, with its figures."""
    root = Path(model_dir)
    if not root.is_dir():
        return []
    current = {b: current_version(root, b) for b in ("tfidf", "semantic", "ensemble")}
    out = []
    for meta_path in root.glob(f"*/{META}"):
        if meta_path.parent.name.startswith("."):
            continue
        meta = read_meta(root, meta_path.parent.name)
        if not meta or not (meta_path.parent / ARTIFACT).exists():
            continue
        if backend_name is not None and meta.get("backend") != backend_name:
            continue
        out.append(
            ModelVersion(
                version=meta_path.parent.name,
                backend=str(meta.get("backend")),
                trained_at=datetime.fromisoformat(meta["trained_at"]),
                rows=int(meta.get("rows", 0)),
                source=str(meta.get("source", "artifact")),
                status=str(meta.get("status", "trained")),
                current=current.get(str(meta.get("backend"))) == meta_path.parent.name,
                figures=meta.get("figures") or {},
                note=str(meta.get("decision", "")),
            )
        )
    return sorted(out, key=lambda m: (m.trained_at, m.version))


def available_versions(model_dir: Path, backend_name: str) -> list[str]:
    """Trained versions of `backend_name` a service may load as the newest, oldest first (version names sort by
    time): a candidate that retraining rejected and a cached map-only model are not among them."""
    root = Path(model_dir)
    if not root.is_dir():
        return []
    found = []
    for meta_path in root.glob(f"*/{META}"):
        if meta_path.parent.name.startswith("."):
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("backend") != backend_name or not (meta_path.parent / ARTIFACT).exists():
            continue
        if meta.get("status") == "rejected" or meta.get("source") == "journey-map":
            continue
        found.append(meta_path.parent.name)
    return sorted(found)


def _newest(model_dir: Path, backend_name: str) -> str | None:
    versions = available_versions(model_dir, backend_name)
    return versions[-1] if versions else None


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
        source="journey-map" if meta.get("source") == "journey-map" else "artifact",
        fingerprint=meta.get("fingerprint"),
        model_dir=Path(model_dir),
    )


def map_model(journey: JourneyMap, backend_name: str, model_dir: Path | None) -> TrainedModel:
    """The model of the journey map alone: loaded from the model directory when one was trained from the same map
    with the same code (same fingerprint), else trained now and kept there (best effort) for the next start-up."""
    rows = journey_rows(journey)
    digest = fingerprint(rows, backend_name)
    version = f"map-{backend_name}-{digest[:12]}"
    target = Path(model_dir) / version if model_dir is not None else None
    if target is not None and target.exists():
        try:
            model = load(target.parent, version)
        except Exception:  # a truncated or foreign file: train again rather than not start
            log.warning("cached map model unreadable; training again", extra={"version": version}, exc_info=True)
        else:
            if model.fingerprint == digest:
                log.info("loaded the journey map's model", extra={"version": version})
                return model
        shutil.rmtree(target, ignore_errors=True)
    log.info("training from the journey map", extra={"backend": backend_name, "rows": len(rows)})
    model = fit(backend_name, rows, source="journey-map", version=version)
    model.fingerprint = digest
    if model_dir is not None:
        try:
            save(model, model_dir, extra={"status": "map"})
            _prune_map_models(Path(model_dir), backend_name, keep=version)
        except OSError:
            log.warning("could not keep the map's model; it is trained again at the next start", exc_info=True)
    return model


def _prune_map_models(model_dir: Path, backend_name: str, keep: str) -> None:
    """Drop map-only models of older maps or code, unless a rollback could still want them."""
    wanted = {keep, current_version(model_dir, backend_name), *_history(model_dir, backend_name)}
    for path in model_dir.glob(f"map-{backend_name}-*"):
        if path.is_dir() and path.name not in wanted:
            shutil.rmtree(path, ignore_errors=True)


def load_or_train(
    *, journey: JourneyMap, backend_name: str, model_dir: Path, pinned: str | None = None
) -> TrainedModel:
    """The pinned artifact; else the current one (promoted, or rolled back to); else the newest trained one; else
    the journey map's model (loaded from the model directory when the map and code are unchanged, else trained)."""
    if pinned:
        if not (Path(model_dir) / pinned / ARTIFACT).exists():
            raise FileNotFoundError(f"pinned model version {pinned!r} is not in {model_dir}")
        model = load(model_dir, pinned)
    else:
        version = current_version(model_dir, backend_name) or _newest(model_dir, backend_name)
        if version is None:
            return map_model(journey, backend_name, model_dir)
        model = load(model_dir, version)
        if model.source == "journey-map" and model.fingerprint != fingerprint(journey_rows(journey), backend_name):
            log.info("the journey map (or the code) changed since the current map model", extra={"version": version})
            return map_model(journey, backend_name, model_dir)
    unknown = set(model.backend.classes) - {s.id for s in journey.stages}
    if unknown:
        raise ValueError(f"model {model.version} knows stages the journey map lacks: {sorted(unknown)}")
    log.info("loaded model artifact", extra={"version": model.version, "backend": model.backend.name})
    return model


# --- Retraining: a candidate is promoted only if it is not worse than the current model ---------------------------


def model_info(model: TrainedModel, threshold: float) -> ModelInfo:
    """What GET /v1/model answers: the model in use, and every version in its directory with its figures."""
    meta = read_meta(model.model_dir, model.version) if model.model_dir is not None else {}
    versions = list_models(model.model_dir, model.backend.name) if model.model_dir is not None else []
    return ModelInfo(
        backend=model.backend.name,
        version=model.version,
        trained_at=model.trained_at,
        rows=model.rows,
        stages=list(model.backend.classes),
        confidence_threshold=threshold,
        source=model.source,
        figures=meta.get("figures") or {},
        versions=versions,
    )
