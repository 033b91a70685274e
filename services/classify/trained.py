"""A trained model in memory: its fitted back-end and what is known about how it was made."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from services.classify.backends import TextBackend

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """A fitted back-end and what is known about how it was made."""

    backend: TextBackend
    version: str
    trained_at: datetime
    rows: int
    source: str
    fingerprint: str | None = None  # hash of what it was trained from (rows, back-end, code): see `fingerprint`
    model_dir: Path | None = field(default=None, compare=False)  # where it was loaded from or saved to
