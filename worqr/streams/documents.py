"""A stream's group as JSON, for ``worqr streams --json`` and ``worqr stream NAME --json`` (pure)."""

from __future__ import annotations

from typing import Any

from worqr.streams.messages import GroupInfo


def stream_group_document(group: GroupInfo) -> dict[str, Any]:
    """A consumer group as the CLI shows it (``lag`` None: the server cannot tell)."""
    return {
        "name": group.name,
        "consumers": group.consumers,
        "pending": group.pending,
        "lag": group.lag,
        "last_delivered_id": group.last_delivered_id,
    }
