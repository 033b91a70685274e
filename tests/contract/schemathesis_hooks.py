"""Loaded by the schemathesis runs (SCHEMATHESIS_HOOKS): how an NDJSON body goes on the wire, which schemathesis
does not know. The document gives NDJSON the schema of the lines it holds (an array of events, one per line)."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, list):
        return b"".join(json.dumps(item).encode() + b"\n" for item in value)
    # Not an array (a negative case): NDJSON has no such text, every one is a sequence of lines. It goes as one line
    # holding the value in an array, which is no event, rather than as a line holding it, which would be the
    # positive case `[value]`.
    return json.dumps([value]).encode() + b"\n"
