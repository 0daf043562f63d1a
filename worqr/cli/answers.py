"""`Answer`: what a ``worqr`` command gives back: a JSON document, the text a person reads,
the exit status, and a line for stderr."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    document: Any
    text: str
    status: int = 0
    #: one line for stderr beside the answer (a partial read: what was missing)
    error: str | None = None
