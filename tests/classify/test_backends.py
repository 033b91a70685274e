"""The TF-IDF back-end: one folded linear model gives the same numbers as its two scikit-learn parts."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB

from services.classify.backends import TfidfBackend
from services.classify.training import journey_rows
from tests.classify.factories import journey


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return out


def test_tfidf_folds_logistic_regression_and_complement_nb_into_one_linear_model() -> None:
    rows = [r for r in journey_rows(journey()) if r.language == "en"]  # one model's rows, as the English model
    texts, labels = [r.text for r in rows], [r.stage for r in rows]
    backend = TfidfBackend(calibrate=False)
    backend.fit(texts, labels)
    probe = ["Still waiting for my refund", "cust rang re engineer no-show", "cancel my gym membership"]
    x = sp.hstack([backend._words.transform(probe), backend._chars.transform(probe)], format="csr")
    lr = LogisticRegression(C=backend.c, max_iter=3000, solver="newton-cg").fit(
        sp.hstack([backend._words.transform(texts), backend._chars.transform(texts)], format="csr"), labels
    )
    nb = ComplementNB(alpha=backend.nb_alpha).fit(
        sp.hstack([backend._words.transform(texts), backend._chars.transform(texts)], format="csr"), labels
    )
    expected = _softmax(lr.decision_function(x) + backend.nb_weight * (x @ nb.feature_log_prob_.T))
    assert np.allclose(backend.predict_proba(probe), expected, atol=1e-4)
    without_nb = TfidfBackend(nb_weight=0.0, calibrate=False)
    without_nb.fit(texts, labels)
    assert np.allclose(without_nb.predict_proba(probe), lr.predict_proba(x), atol=1e-4)


def test_tfidf_with_two_stages_classifies_and_explains() -> None:
    backend = TfidfBackend(calibrate=False)
    backend.fit(["refund please", "charged twice", "app crashes", "no signal"], ["pay", "pay", "use", "use"])
    probs, reasons = backend.predict_explained(["charged twice again", "the app crashes"])
    assert [backend.classes[i] for i in probs.argmax(axis=1)] == ["pay", "use"]
    assert "'charged'" in reasons[0] and "'crashes'" in reasons[1]
    assert "'charged'" in backend.explain("charged twice again", "pay")
