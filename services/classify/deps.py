"""FastAPI dependencies of the classify service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.classify.service import Classifier
from shared.http import Problem


def get_classifier(request: Request) -> Classifier:
    runtime = getattr(request.app.state, "runtime", None)
    classifier: Classifier | None = getattr(runtime, "classifier", None)
    if classifier is None:
        raise Problem(503, "Not ready", "the classifier is still loading", headers={"Retry-After": "2"})
    return classifier


ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
