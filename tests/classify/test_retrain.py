"""Models that keep learning, safely: the map's model is kept on disk and reloaded until the map changes; a retrained
candidate is promoted only if it is not worse on held-out corrections; rollback restores the previous version; the
running service follows retrains and rollbacks. Real (small) TF-IDF models on a three-stage map: fast."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.classify import model_store
from services.classify.api import router
from services.classify.consumer import CorrectionsHandler
from services.classify.deps import get_classifier
from services.classify.model_store import current_version, list_models, load_or_train, rollback
from services.classify.models import Correction
from services.classify.retrain import ModelKeeper, retrain
from services.classify.service import Classifier
from services.classify.training import CorrectionStore, is_held_out
from shared.cloudevents import CloudEvent, encode
from shared.journey import JourneyMap
from shared.models import EventType
from shared.settings import Topics

AT = datetime(2026, 11, 1, tzinfo=UTC)

# What customers of a small airline say at each stage; the map itself knows two phrases per stage only.
SAID = {
    "book": [
        "the booking page crashed when I paid for the {x} flight",
        "could not choose seats while booking the {x} fare",
        "promo code for {x} rejected at the booking step",
        "booked {x} tickets twice by mistake on the website",
    ],
    "fly": [
        "cabin crew on the {x} flight were rude and the seat was broken",
        "no snacks left on board the {x} service, cabin was freezing",
        "the {x} flight sat on the tarmac for two hours with no air",
        "inflight wifi never worked on the {x} route",
    ],
    "refund": [
        "still waiting for my refund for the cancelled {x} flight",
        "you owe me compensation for the {x} delay, claim ignored",
        "refund for the {x} tickets went to an old card",
        "voucher instead of cash for the {x} cancellation, I want money back",
    ],
}
PLACES = ["Lisbon", "Oslo", "Rome", "Paris", "Berlin", "Madrid", "Dublin", "Vienna", "Prague", "Athens"]


def small_map(extra_example: str | None = None) -> JourneyMap:
    examples = {"book": ["booking a ticket", "choose a seat"], "fly": ["on the plane", "cabin crew"]}
    examples["refund"] = ["money back", "compensation claim"]
    if extra_example:
        examples["refund"].append(extra_example)
    return JourneyMap.model_validate(
        {
            "stages": [
                {"id": s, "name": s.title(), "order": i, "examples": e} for i, (s, e) in enumerate(examples.items())
            ],
            "teams": [{"id": "cx-triage", "name": "Triage"}],
            "ownership": [],
        }
    )


def corrections(flip: bool = False) -> list[Correction]:
    """One correction per (stage, phrase, place); `flip` relabels the trainable ones to a wrong stage (the held-out
    ones keep their true stage: they are what a candidate is measured on)."""
    wrong = {"book": "refund", "fly": "book", "refund": "fly"}
    out = []
    for stage, phrases in SAID.items():
        for p, phrase in enumerate(phrases):
            for place in PLACES:
                item_id = f"{stage}-{p}-{place}"
                label = wrong[stage] if flip and not is_held_out(item_id) else stage
                out.append(Correction(id=item_id, stage=label, text=phrase.format(x=place), by="agent", at=AT))
    return out


def test_the_map_model_is_kept_and_reloaded_until_the_map_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_or_train(journey=small_map(), backend_name="tfidf", model_dir=tmp_path)
    assert first.source == "journey-map" and (tmp_path / first.version / model_store.ARTIFACT).exists()

    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("trained again although the map did not change")

    with monkeypatch.context() as patch:
        patch.setattr(model_store, "fit", no_training)
        again = load_or_train(journey=small_map(), backend_name="tfidf", model_dir=tmp_path)
    assert again.version == first.version and again.source == "journey-map" and again.fingerprint == first.fingerprint

    (tmp_path / first.version / model_store.ARTIFACT).write_bytes(b"truncated")  # a damaged file: train again
    repaired = load_or_train(journey=small_map(), backend_name="tfidf", model_dir=tmp_path)
    assert repaired.version == first.version and repaired.backend.classes == first.backend.classes
    assert load_or_train(journey=small_map(), backend_name="tfidf", model_dir=tmp_path).fingerprint == first.fingerprint

    changed = load_or_train(journey=small_map("refund please"), backend_name="tfidf", model_dir=tmp_path)
    assert changed.version != first.version and changed.source == "journey-map"
    assert not (tmp_path / first.version).exists()  # the old map's model is pruned


def test_a_cached_semantic_model_is_keyed_by_its_sentence_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.classify.training import fingerprint, journey_rows

    rows = journey_rows(small_map())
    monkeypatch.setenv("CLASSIFY_ENCODER", "numpy")
    numpy_key, tfidf_key = fingerprint(rows, "ensemble"), fingerprint(rows, "tfidf")
    monkeypatch.setenv("CLASSIFY_ENCODER", "onnx-int8")
    assert fingerprint(rows, "ensemble") != numpy_key  # the other encoder: not the cached model
    assert fingerprint(rows, "tfidf") == tfidf_key  # TF-IDF has no encoder


def test_a_worse_candidate_is_not_promoted_and_rollback_restores_the_previous_version(tmp_path: Path) -> None:
    journey = small_map()
    store = CorrectionStore(tmp_path)
    store.append(corrections())
    held = store.heldout_rows(s.id for s in journey.stages)
    trainable, _ = store.training_rows(s.id for s in journey.stages)
    assert held and trainable and len(held) + len(trainable) == 120
    assert not {r.text for r in held} & {r.text for r in trainable}

    map_version = load_or_train(journey=journey, backend_name="tfidf", model_dir=tmp_path).version
    good = retrain(journey=journey, backend_name="tfidf", model_dir=tmp_path, threshold=0.45)
    assert good.current == map_version and good.promoted and not good.worse
    assert good.candidate_figures["corrections"]["macro_f1"] > good.current_figures["corrections"]["macro_f1"]
    assert current_version(tmp_path, "tfidf") == good.candidate
    assert load_or_train(journey=journey, backend_name="tfidf", model_dir=tmp_path).version == good.candidate

    store.append(corrections(flip=True))  # someone relabels every trainable item to a wrong stage
    bad = retrain(journey=journey, backend_name="tfidf", model_dir=tmp_path, threshold=0.45)
    assert bad.current == good.candidate and not bad.promoted and bad.worse == ["corrections"]
    assert bad.candidate_figures["corrections"]["macro_f1"] < 0.5 <= bad.current_figures["corrections"]["macro_f1"]
    assert current_version(tmp_path, "tfidf") == good.candidate  # the newer, rejected version is not served
    assert load_or_train(journey=journey, backend_name="tfidf", model_dir=tmp_path).version == good.candidate

    listed = {v.version: v for v in list_models(tmp_path, "tfidf")}
    assert listed[bad.candidate].status == "rejected" and "worse than" in listed[bad.candidate].note
    assert listed[good.candidate].status == "promoted" and listed[good.candidate].current
    assert listed[good.candidate].figures == good.candidate_figures  # as measured when it was made
    assert listed[map_version].figures["corrections"]["macro_f1"] == good.current_figures["corrections"]["macro_f1"]

    assert rollback(tmp_path, "tfidf") == (good.candidate, map_version)
    assert load_or_train(journey=journey, backend_name="tfidf", model_dir=tmp_path).version == map_version
    with pytest.raises(LookupError):
        rollback(tmp_path, "tfidf")  # nothing served before the map's model
    assert rollback(tmp_path, "tfidf", good.candidate) == (map_version, good.candidate)
    assert load_or_train(journey=journey, backend_name="tfidf", model_dir=tmp_path).version == good.candidate
    with pytest.raises(FileNotFoundError):
        rollback(tmp_path, "tfidf", "no-such-version")

    # GET /v1/model: the loaded version, its figures, and every version with its own
    app = FastAPI()
    app.include_router(router)
    served = Classifier(journey, load_or_train(journey=journey, backend_name="tfidf", model_dir=tmp_path), 0.45)
    app.dependency_overrides[get_classifier] = lambda: served
    body = TestClient(app).get("/v1/model").json()
    assert body["version"] == good.candidate and body["figures"] == good.candidate_figures
    versions = {v["version"]: v for v in body["versions"]}
    assert set(versions) == {map_version, good.candidate, bad.candidate}
    assert [v for v in versions if versions[v]["current"]] == [good.candidate]
    assert versions[bad.candidate]["status"] == "rejected"


def test_retrain_models_and_rollback_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.cli.main import main

    path = tmp_path / "journey.yaml"
    path.write_text(yaml.safe_dump(small_map().model_dump(mode="json", exclude_defaults=True)), encoding="utf-8")
    models = tmp_path / "models"
    CorrectionStore(models).append(corrections())
    common = ["--model-dir", str(models)]
    assert main(["classify", "retrain", "--journey-map", str(path), *common]) == 0
    out = capsys.readouterr().out
    assert "promoted: not worse than map-tfidf-" in out and "corrections " in out
    promoted = out.strip().splitlines()[-1].removeprefix("current=")
    assert current_version(models, "tfidf") == promoted
    assert main(["classify", "models", *common]) == 0
    listing = capsys.readouterr().out
    assert f"* {promoted}" in listing and "map-tfidf-" in listing and "corrections" in listing
    assert main(["classify", "rollback", *common]) == 0
    assert f"{promoted} -> map-tfidf-" in capsys.readouterr().out
    assert current_version(models, "tfidf") != promoted
    assert main(["classify", "rollback", "nope", *common]) == 2
    assert "'nope' is not in" in capsys.readouterr().err


def test_a_rejected_first_candidate_is_never_served(tmp_path: Path) -> None:
    journey = small_map()
    CorrectionStore(tmp_path).append(corrections(flip=True))
    map_version = load_or_train(journey=journey, backend_name="tfidf", model_dir=tmp_path).version
    bad = retrain(journey=journey, backend_name="tfidf", model_dir=tmp_path, threshold=0.45)
    assert not bad.promoted and current_version(tmp_path, "tfidf") is None
    assert load_or_train(journey=journey, backend_name="tfidf", model_dir=tmp_path).version == map_version


async def test_the_service_retrains_after_n_corrections_and_follows_a_rollback(tmp_path: Path) -> None:
    journey = small_map()
    map_model = load_or_train(journey=journey, backend_name="tfidf", model_dir=tmp_path)
    classifier = Classifier(journey, map_model, 0.45)
    keeper = ModelKeeper(classifier, model_dir=tmp_path, retrain_after=100)
    store = CorrectionStore(tmp_path)
    handler = CorrectionsHandler(
        store=store,
        producer=None,  # type: ignore[arg-type]  # no record here goes to the DLQ
        topics=Topics(),
        group="g",
        stages={s.id for s in journey.stages},
        on_stored=keeper.corrections_stored,
    )
    items = corrections()
    await handler([_record(i, c) for i, c in enumerate(items[:60])])
    assert keeper.pending == 60 and classifier.model is map_model  # not yet: 60 of 100

    await handler([_record(i, c) for i, c in enumerate(items[60:], start=60)])
    await keeper.stop()  # waits for the retrain started in the background
    assert keeper.last_result is not None and keeper.last_result.promoted
    assert classifier.model.version == keeper.last_result.candidate == current_version(tmp_path, "tfidf")
    text = "refund for the Oslo tickets never arrived"
    assert classifier.classify_many([_feedback(text)])[0].model_version == keeper.last_result.candidate

    rollback(tmp_path, "tfidf")  # e.g. `journeyline classify rollback` from a shell
    assert await keeper.reload_if_changed()
    assert classifier.model.version == map_model.version
    assert not await keeper.reload_if_changed()


def _record(offset: int, item: Correction) -> ConsumerRecord:
    data = item.model_dump(mode="json")
    headers, value = encode(CloudEvent(id=item.id, source="t", type=EventType.feedback_corrected.value, data=data))
    return ConsumerRecord("t.corrections", 0, offset, 0, 0, None, value, None, len(value), 0, headers)


def _feedback(text: str) -> Any:
    from tests.classify.factories import feedback

    return feedback(text)


def test_new_domains_have_their_own_stages_and_disjoint_train_and_test_sets() -> None:
    from services.classify.cli import DOMAINS
    from services.classify.learning import domain_files
    from services.classify.training import read_labelled_csv
    from shared.journey import load_journey_map

    domains = domain_files(DOMAINS, [])
    assert [name for name, *_ in domains] == ["bank", "rail"]
    for _, map_path, train_path, test_path in domains:
        journey = load_journey_map(map_path)
        stages = [s.id for s in journey.stages]
        assert all(not s.examples and not s.keywords for s in journey.stages)  # only what the labels teach
        train, test = (
            read_labelled_csv(train_path, known_stages=stages),
            read_labelled_csv(test_path, known_stages=stages),
        )
        assert {r.stage for r in train} == {r.stage for r in test} == set(stages)
        assert min(sum(1 for r in train if r.stage == s) for s in stages) >= 100  # the curve reaches 100 per stage
        assert min(sum(1 for r in test if r.stage == s) for s in stages) >= 15
        assert not {r.text.casefold() for r in train} & {r.text.casefold() for r in test}


def test_learning_curve_command_prints_one_row_per_size(capsys: pytest.CaptureFixture[str]) -> None:
    from services.cli.main import main

    assert main(["classify", "learning-curve", "--domain", "rail", "--sizes", "10,all,500", "--seeds", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("domain=rail backend=tfidf") and "macro_f1" in lines[1]
    few, every = lines[2].split(), lines[3].split()
    assert few[:2] == ["10", "60"] and every[:2] == ["all(100)", "600"] and len(lines) == 4  # 500 per stage = all
    assert float(every[2]) > float(few[2])  # more labels, better
    assert main(["classify", "learning-curve", "--domain", "moon"]) == 2
