"""Redis Sentinel URLs: ``redis+sentinel://[user:password@]host:port[,host:port...]/<service>[/<db>]``
(``rediss+sentinel://`` for TLS), turned into a redis-py Sentinel connection pool that finds
the current primary through the sentinels each time it opens a connection.

The user name and password are the primary's. The sentinels get the same TLS settings, and
their own credentials from the ``sentinel_username`` / ``sentinel_password`` query options;
other query options (``ssl_ca_certs=...``, ``socket_timeout=...``) are redis-py's, as in a
``redis://`` URL.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

import redis.asyncio.sentinel
import redis.connection
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from worqr._io.urls import address, redacted
from worqr.errors import InvalidArgumentError

SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
DEFAULT_SENTINEL_PORT = 26379
#: Sentinels answer at once; a silent one is skipped for the next after this many seconds.
SENTINEL_TIMEOUT = 2.0
_FORM = "redis+sentinel://[user:password@]host:port[,host:port...]/<service_name>[/<db>]"


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed Sentinel URL: where the sentinels are, the service (the primary's name in
    their configuration), and the connection settings for the primary and for the sentinels."""

    sentinels: list[tuple[str, int]]
    service_name: str
    connection: dict[str, Any]
    sentinel: dict[str, Any]


def _bad(url: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"bad Sentinel URL {redacted(url)!r}: {problem}; expected {_FORM}")


def _address(item: str, url: str) -> tuple[str, int]:
    return address(item, DEFAULT_SENTINEL_PORT, "sentinel", lambda problem: _bad(url, problem))


def parse(url: str) -> SentinelUrl:
    """Parse a ``redis+sentinel://`` or ``rediss+sentinel://`` URL; bad ones get a clear error."""
    tls = url.startswith("rediss+sentinel://")
    rest = url.partition("://")[2]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not hosts:
        raise _bad(url, "it names no sentinel")
    sentinels = [_address(item, url) for item in hosts.split(",")]
    parts = path.rstrip("/").split("/")
    if not parts[0]:
        raise _bad(url, "it names no service (the primary's name in the sentinels' configuration)")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):  # noqa: PLR2004 (service and db)
        raise _bad(url, f"the database must be a number, got {'/'.join(parts[1:])!r}")
    db = int(parts[1]) if len(parts) == 2 else 0  # noqa: PLR2004
    options = urllib.parse.parse_qs(query, keep_blank_values=True)
    sentinel_auth = {
        name: options.pop(f"sentinel_{name}")[-1] for name in ("username", "password") if f"sentinel_{name}" in options
    }
    host, port = sentinels[0]
    plain = f"{'rediss' if tls else 'redis'}://{userinfo + at}{host if ':' not in host else f'[{host}]'}:{port}/{db}"
    try:
        connection = redis.connection.parse_url(f"{plain}?{urllib.parse.urlencode(options, doseq=True)}")  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise _bad(url, str(exc)) from exc
    for name in ("host", "port", "connection_class"):
        connection.pop(name, None)
    sentinel: dict[str, Any] = {
        "socket_connect_timeout": SENTINEL_TIMEOUT,
        "socket_timeout": SENTINEL_TIMEOUT,
        **sentinel_auth,
    }
    if tls:
        connection["ssl"] = True  # the pool then uses SentinelManagedSSLConnection
        sentinel.update({k: v for k, v in connection.items() if k.startswith("ssl")})
    return SentinelUrl(sentinels, urllib.parse.unquote(parts[0]), connection, sentinel)


class _OwnedSentinelPool(redis.sentinel.SentinelConnectionPool):
    """A Sentinel pool worqr made itself: closing it also closes its sentinel connections."""

    def disconnect(self, inuse_connections: bool = True) -> None:
        super().disconnect(inuse_connections)
        if inuse_connections:  # a full close, not a switch to a new primary
            for client in self.sentinel_manager.sentinels:
                client.close()


class _OwnedAsyncSentinelPool(redis.asyncio.sentinel.SentinelConnectionPool):
    """The asyncio twin of `_OwnedSentinelPool`."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:
            for client in self.sentinel_manager.sentinels:
                await client.aclose()


def sync_pool(url: str, options: dict[str, Any]) -> redis.sentinel.SentinelConnectionPool:
    """A pool on the primary named by ``url``; ``options`` are worqr's client settings."""
    parsed = parse(url)
    no_retry = Retry(NoBackoff(), 0)
    manager = redis.sentinel.Sentinel(parsed.sentinels, sentinel_kwargs={**parsed.sentinel, "retry": no_retry})
    return _OwnedSentinelPool(parsed.service_name, manager, retry=no_retry, **{**options, **parsed.connection})  # type: ignore[no-untyped-call]


def async_pool(url: str, options: dict[str, Any]) -> redis.asyncio.sentinel.SentinelConnectionPool:
    """The asyncio twin of `sync_pool`."""
    from redis.asyncio.retry import Retry as AsyncRetry  # noqa: PLC0415 (asyncio twin of Retry)

    parsed = parse(url)
    no_retry = AsyncRetry(NoBackoff(), 0)
    manager = redis.asyncio.sentinel.Sentinel(parsed.sentinels, sentinel_kwargs={**parsed.sentinel, "retry": no_retry})
    return _OwnedAsyncSentinelPool(parsed.service_name, manager, retry=no_retry, **{**options, **parsed.connection})  # type: ignore[no-untyped-call]
