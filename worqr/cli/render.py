"""How the ``worqr`` command shows its answers: one JSON document (``--json``), or aligned
tables for a person. Tasks are text; a payload that is not UTF-8 is shown as
``task_base64``; either is cut to a preview unless ``--show-tasks`` (tasks may hold
personal data)."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

#: How much of a task is shown without --show-tasks.
PREVIEW = 40


def task_fields(payload: bytes, *, full: bool) -> dict[str, Any]:
    """``task`` (text) or ``task_base64``, cut to `PREVIEW` characters unless ``full``
    (then ``task_truncated`` is true), and ``task_size`` in bytes."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        encoded = base64.b64encode(payload).decode()
        shown = encoded if full else encoded[:PREVIEW]
        return {"task_base64": shown, "task_size": len(payload), "task_truncated": shown != encoded}
    shown = text if full else text[:PREVIEW]
    return {"task": shown, "task_size": len(payload), "task_truncated": shown != text}


def plain(value: Any) -> Any:
    """A JSON-ready copy: dataclasses as objects, datetimes as ISO 8601, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def dumps(document: Any) -> str:
    return json.dumps(plain(document), ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, empty: str) -> str:
    """``rows`` as an aligned table of ``columns`` (numbers right-aligned); ``empty`` if none."""
    if not rows:
        return empty
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(c), (int, float)) and not isinstance(row.get(c), bool) for row in rows) for c in columns
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line([c.upper() for c in columns]), *(line(r) for r in cells)])
