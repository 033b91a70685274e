"""Every language is read: the Unicode tokeniser, language detection, per-language severity and sentiment, the
'unsupported language' fallback, and journey maps with and without per-language keywords."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.classify import language as detection
from services.classify.language import SUPPORTED, detect, detect_many
from services.classify.multilingual import PerLanguageBackend
from services.classify.sentiment import sentiment_of, severity_of
from services.classify.service import Classifier
from services.classify.text import fold, folded_words, words
from services.classify.training import journey_rows, read_labelled_csv
from shared.journey import UNASSIGNED, load_journey_map
from shared.models import Method, Severity
from tests.classify.factories import classifier, feedback, journey, map_model


def test_the_tokeniser_reads_every_script() -> None:
    assert words("Zażółć gęślą jaźń, złożę SKARGĘ") == ("zażółć", "gęślą", "jaźń", "złożę", "skargę")
    assert folded_words("Zażółć gęślą jaźń") == ("zazolc", "gesla", "jazn")  # ł has no decomposition: mapped
    assert words("Die Straße ist GESPERRT") == ("die", "strasse", "ist", "gesperrt")  # casefold: ß -> ss
    assert words("注文した商品が届きません") == ("注文した商品が届きません",)  # not dropped, one token
    assert fold("注文した商品が届きません") == "注文した商品が届きません"  # Japanese keeps its voicing marks
    assert folded_words("Je n’ai pas été remboursé") == ("je", "n'", "ai", "pas", "ete", "rembourse")
    assert folded_words("rembourse") == folded_words("REMBOURSÉ")
    assert words("l'application dell'ordine") == ("l'", "application", "dell'", "ordine")  # elisions split
    assert words("I don't like the £5 fee, it's 20% more") == (
        *("i", "don't", "like", "the", "5", "fee", "it's", "20%", "more"),
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Je vais porter plainte, mon avocat vous contactera très bientôt", "fr"),
        ("Ich kündige meinen Vertrag, der Router funktioniert seit Wochen nicht", "de"),
        ("Zgłaszam sprawę do rzecznika, internet nie działa od tygodnia", "pl"),
        ("Jag vill säga upp mitt abonnemang, appen fungerar inte", "sv"),
        ("The app keeps crashing when I open my bill", "en"),
    ],
)
def test_language_is_detected_offline(text: str, code: str) -> None:
    found = detect(text)
    assert found.code == code and found.supported and 0 < found.confidence <= 1


def test_many_texts_scored_at_once_get_py3langids_own_probabilities() -> None:
    # The batched scoring reimplements py3langid's arithmetic over its model; an upgrade that changes either shows here.
    texts = [
        *(row.text for row in read_labelled_csv(Path("services/classify/data/heldout_multilingual.csv"))[::7]),
        "注文した商品が届きません",
        "Jeg har ventet tre uger på min pakke",
        "THE TICKET MACHINE ATE MY CARD",  # all capitals: py3langid lowers them
        "Сербский: Србија",  # a script alias (sr/srl)
        "1234 5678",
        "",
        "!!!",
    ]
    detector = detection._identifier()
    batched = detector.probabilities(texts)
    for text, row in zip(texts, batched, strict=True):
        ranked = dict(detector.rank(text))
        assert max(abs(ranked[label] - float(p)) for label, p in zip(detector.labels, row, strict=True)) < 1e-4, text
        assert detector.labels[int(row.argmax())] == max(ranked, key=ranked.__getitem__), text


def test_a_batch_detects_each_text_as_it_would_alone() -> None:
    texts = [
        "refund pls",  # too short for the function words: py3langid decides
        "Moje objednávka stále nedorazila a zákaznická linka nebere telefon",
        "The app keeps crashing when I open my bill",
        "Ma facture est fausse",
        "   ",
        "注文した商品が届きません",
    ]
    together = detect_many(texts)
    for text, found in zip(texts, together, strict=True):
        detection._SEEN._items.clear()
        assert detect(text) == found, text


def test_the_classification_records_the_language_and_its_confidence() -> None:
    result = classifier().classify(feedback("Il pacco non è mai arrivato, il corriere dice che è stato consegnato"))
    assert result.language == "it" and result.language_confidence is not None and result.language_confidence > 0.5
    assert classifier().classify(feedback(None)).language is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Ceci est inadmissible. Je vais porter plainte et mon avocat vous contactera.", "fr"),
        ("Das ist eine Frechheit, ich schalte jetzt meinen Anwalt ein und gehe vor Gericht.", "de"),
        ("To skandal, pozew do sądu już przygotowuje mój prawnik.", "pl"),
    ],
)
def test_a_legal_threat_in_another_language_is_critical_and_negative(text: str, language: str) -> None:
    result = classifier().classify(feedback(text))
    assert result.language == language
    assert result.severity in (Severity.high, Severity.critical)
    assert result.severity_reason.startswith("legal or regulator mention")
    assert result.sentiment.label == "negative"


@pytest.mark.parametrize(
    ("text", "language", "signal"),
    [
        ("Il radiatore ha preso fuoco in cucina", "it", "safety concern"),
        ("Het ruikt hier naar gas sinds de monteur weg is, gaslucht in de hele gang", "nl", "safety concern"),
        ("Vou cancelar tudo, estou farto desta palhaçada", "pt", "threat to leave"),
        ("Me doy de baja, es una vergüenza", "es", "threat to leave"),
        ("Jag säger upp avtalet, det här är under all kritik", "sv", "threat to leave"),
    ],
)
def test_severity_signals_exist_per_language(text: str, language: str, signal: str) -> None:
    severity, reason = severity_of(text, sentiment_of(text, language=language), language)
    assert severity in (Severity.high, Severity.critical) and reason.startswith(signal)


def test_a_word_that_means_something_else_is_no_signal() -> None:
    # Swedish 'stämmer' is 'is right', not 'sue'; German 'Anzeige' is also an advert.
    assert severity_of("Det stämmer inte riktigt med fakturan", sentiment_of("x"), "sv")[0] is Severity.normal
    assert severity_of("Ich habe eure Anzeige im Netz gesehen", sentiment_of("x"), "de")[0] is Severity.normal
    assert severity_of("Viele Nutzer klagen über die App", sentiment_of("x"), "de")[0] is Severity.normal
    assert severity_of("A mi juicio la app es mejorable", sentiment_of("x"), "es")[0] is Severity.normal


def test_signal_phrases_are_tokenised_like_texts() -> None:
    # 'vou-me embora' (hyphen), "ça sent le brûlé" (accents) match however the customer writes them
    assert severity_of("Vou-me embora, acabou", sentiment_of("x"), "pt")[1] == "threat to leave: 'vou me embora'"
    assert severity_of("ca sent le brule ici", sentiment_of("x"), "fr")[0] is Severity.critical


def test_sentiment_per_language_with_negation() -> None:
    assert sentiment_of("Servizio ottimo, velocissimi e gentili", language="it").label == "positive"
    assert sentiment_of("Nie jestem zadowolony, obsługa jest fatalna", language="pl").label == "negative"
    assert sentiment_of("Le service n'est pas bon du tout", language="fr").score < 0
    assert sentiment_of("Le service est bon", language="fr").score > 0
    explained = sentiment_of("Ich bin total enttäuscht", language="de").explanation
    assert "enttäuscht" in explained  # the words as written, not accent-folded


@pytest.mark.parametrize(
    "text",
    [
        "注文した商品がまだ届きません。返金してください。弁護士に相談します。",
        "Paketim hâlâ gelmedi, üç haftadır bekliyorum ve kimse cevap vermiyor",
        "Zamówiłem... no, actually: Tilaukseni ei ole vieläkään saapunut ja asiakaspalvelu ei vastaa",
        "Jeg har ventet tre uger på min pakke, og ingen svarer på mine mails",  # Danish, Swedish's neighbour
        "Moje objednávka stále nedorazila a zákaznická linka nebere telefon",  # Czech, Polish's neighbour
    ],
)
def test_an_unsupported_language_is_never_given_a_confident_stage(text: str) -> None:
    found = detect(text)
    result = classifier().classify(feedback(text))
    assert not found.supported
    assert result.stage == UNASSIGNED and result.confidence == 0.0 and result.method is Method.fallback
    assert "unsupported language" in result.explanation and found.code in result.explanation
    assert result.language == found.code
    assert result.severity is Severity.normal and "unsupported language" in result.severity_reason


def test_japanese_goes_to_unassigned_with_the_reason() -> None:
    result = classifier().classify(feedback("注文した商品が届きません"))
    assert result.stage == UNASSIGNED and result.language == "ja"
    assert result.explanation.startswith("unsupported language 'ja'")


def test_a_stage_hint_still_wins_over_an_unsupported_language() -> None:
    result = classifier().classify(feedback("注文した商品が届きません", stage_hint="onboard"))
    assert result.stage == "onboard" and result.method is Method.hint


def test_the_default_map_has_keywords_in_every_supported_language() -> None:
    for stage in journey().stages:
        assert set(stage.keywords_by_language) == set(SUPPORTED) - {"en"}, stage.id
    rows = journey_rows(journey())
    assert {r.language for r in rows} == set(SUPPORTED)
    backend = map_model().backend
    assert isinstance(backend, PerLanguageBackend) and backend.languages == sorted(SUPPORTED)


def test_a_text_goes_to_its_languages_model() -> None:
    backend = map_model().backend
    assert isinstance(backend, PerLanguageBackend)
    assert backend.model_for("Mi avete addebitato due volte la bolletta") is backend.models["it"]
    assert backend.model_for("refund") is backend.models.get(detect("refund").code, backend.models["en"])
    result = classifier().classify(feedback("Mi avete addebitato due volte la bolletta di marzo"))
    assert result.stage == "pay"


@pytest.mark.parametrize(
    "text", ["Ich wurde zweimal belastet und mein Anwalt wird sich melden", "Meine Kreditkarte wurde doppelt belastet"]
)
def test_a_german_double_charge_is_a_payment_complaint(text: str) -> None:
    """'belastet' is how a German customer says 'charged' (found by trying the product: it went to `use`, neutral)."""
    result = classifier().classify(feedback(text))
    assert (result.language, result.stage, result.sentiment.label) == ("de", "pay", "negative")


def _write(tmp_path: Path, keywords: object) -> Path:
    data = yaml.safe_load(Path("shared/journey_default.yaml").read_text(encoding="utf-8"))
    for stage in data["stages"]:
        stage.pop("keywords_by_language", None)
        stage["keywords"] = keywords if stage["id"] == "pay" else stage["keywords"]
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_an_old_map_with_plain_keyword_lists_still_loads_and_trains_one_model(tmp_path: Path) -> None:
    from services.classify.training import fit

    old = load_journey_map(_write(tmp_path, ["bill", "refund"]))
    pay = next(s for s in old.stages if s.id == "pay")
    assert pay.keywords == ["bill", "refund"] and pay.keywords_by_language == {}
    model = fit("tfidf", journey_rows(old), source="test")
    assert not isinstance(model.backend, PerLanguageBackend)  # English only: one model, as before
    english_only = Classifier(old, model, 0.45)
    assert english_only.classify(feedback("My bill is wrong, you charged me twice this month")).stage == "pay"
    french = english_only.classify(feedback("Vous m'avez facturé deux fois ce mois-ci, remboursez-moi"))
    assert french.stage == UNASSIGNED and french.language == "fr"
    assert "the journey map has no keywords in it" in french.explanation


def test_keywords_may_also_be_given_per_language_under_keywords(tmp_path: Path) -> None:
    loaded = load_journey_map(_write(tmp_path, {"en": ["bill"], "fr": ["facture"], "de": ["Rechnung"]}))
    pay = next(s for s in loaded.stages if s.id == "pay")
    assert pay.keywords == ["bill"] and pay.keywords_by_language == {"fr": ["facture"], "de": ["Rechnung"]}


def test_the_multilingual_heldout_set_covers_every_stage_and_language() -> None:
    rows = read_labelled_csv(
        Path("services/classify/data/heldout_multilingual.csv"), known_stages=[s.id for s in journey().stages]
    )
    for language in SUPPORTED:
        mine = [r for r in rows if r.language == language]
        assert {r.stage for r in mine} == {s.id for s in journey().stages}
        assert min(sum(1 for r in mine if r.stage == stage) for stage in {r.stage for r in mine}) >= 10
    # never trained on: no held-out text is a keyword or example of the map
    trained = {r.text.casefold() for r in journey_rows(journey())}
    assert not any(r.text.casefold() in trained for r in rows)


def test_the_fresh_swedish_set_is_swedish_covers_every_stage_and_is_not_in_the_map() -> None:
    stages = {s.id for s in journey().stages}
    rows = read_labelled_csv(Path("services/classify/data/heldout_swedish_fresh.csv"), known_stages=list(stages))
    assert {r.language for r in rows} == {"sv"} and {r.stage for r in rows} == stages
    assert min(sum(1 for r in rows if r.stage == stage) for stage in stages) >= 10
    trained = {r.text.casefold() for r in journey_rows(journey())}
    assert not any(r.text.casefold() in trained for r in rows)
    assert sum(detect(r.text).code == "sv" for r in rows) == len(rows)
