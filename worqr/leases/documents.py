"""A lease as JSON, for ``worqr leases --json`` (pure)."""

from __future__ import annotations

from typing import Any

from worqr._protocol.models import server_time
from worqr.leases.ops import Holding


def lease_document(holding: Holding) -> dict[str, Any]:
    """A lease as ``worqr leases --json`` shows it (``acquired_at`` in ISO 8601, UTC)."""
    acquired = None if holding.acquired_at_ms is None else server_time(holding.acquired_at_ms)
    return {
        "name": holding.name,
        "holder": holding.holder,
        "token": holding.token,
        "acquired_at": None if acquired is None else acquired.isoformat(),
        "expires_in_ms": holding.expires_in_ms,
        "last_token": holding.last_token,
    }
