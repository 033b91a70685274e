"""Which adapter reads which payloads: the families of tools, by the `adapter` a source (or a request) names."""

from __future__ import annotations

from collections.abc import Callable

from services.ingest.adapters import call_centre, generic, review, social, survey
from services.ingest.adapters.common import Canonical, Json
from services.ingest.models import Adapter

AdaptFn = Callable[[Json], list[Canonical]]

ADAPTERS: dict[Adapter, AdaptFn] = {
    Adapter.generic: generic.adapt,
    Adapter.call_centre: call_centre.adapt,
    Adapter.social: social.adapt,
    Adapter.review: review.adapt,
    Adapter.survey: survey.adapt,
}
