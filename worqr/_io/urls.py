"""Every URL worqr accepts, parsed in one place, with no I/O:

- one server: ``redis://``, ``rediss://`` (TLS) or ``unix://`` (parsed by redis-py's
  ``ConnectionPool.from_url``; here only recognised);
- Sentinel: ``redis+sentinel://[user:password@]host:port[,host:port...]/<service>[/<db>]``
  (``rediss+sentinel://`` for TLS): the sentinels, the service (the primary's name in their
  configuration) and a database;
- Redis Cluster: ``redis+cluster://[user:password@]host:port[,host:port...]``
  (``rediss+cluster://``): the nodes to load the slot map from (the client finds the others
  from them); a cluster has only database 0.

Query options are redis-py's (``ssl_ca_certs=...``, ``socket_timeout=...``), as in a
``redis://`` URL. The user name and password are the server's (Sentinel: the primary's;
the sentinels' own come from the ``sentinel_username`` / ``sentinel_password`` options).
A bad URL gets a clear `InvalidArgumentError`, without its password.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import redis.connection

from worqr.errors import InvalidArgumentError

DEFAULT_URL = "redis://localhost:6379/0"
SERVER_SCHEMES = ("redis://", "rediss://", "unix://")
SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
#: Sentinels answer at once; a silent one is skipped for the next after this many seconds.
SENTINEL_TIMEOUT = 2.0
#: The query options a cluster URL may carry (the rest of redis-py's make no sense there).
CLUSTER_OPTIONS = frozenset({
    "username", "password", "client_name", "socket_timeout", "socket_connect_timeout", "socket_keepalive",
    "ssl", "ssl_ca_certs", "ssl_ca_data", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname",
})  # fmt: skip
_PORTS = range(1, 65536)
_SENTINEL_FORM = "redis+sentinel://[user:password@]host:port[,host:port...]/<service_name>[/<db>]"
_CLUSTER_FORM = "redis+cluster://[user:password@]host:port[,host:port...][?option=value...]"

Kind = Literal["server", "sentinel", "cluster"]


#: The prefix of a client that names none and finds no ``WORQR_PREFIX`` in its environment.
DEFAULT_PREFIX = "worqr"


def resolve_prefix(value: str | None) -> str:
    """The key prefix: ``value``, else ``WORQR_PREFIX``, else `DEFAULT_PREFIX` (the same
    default as the ``worqr`` command line's)."""
    if value is None:
        return os.environ.get("WORQR_PREFIX") or DEFAULT_PREFIX
    return value


def resolve_url(value: object) -> str | None:
    """The URL to connect to (``None`` means ``WORQR_REDIS_URL``, else `DEFAULT_URL`), or
    None when ``value`` is a client object."""
    if value is None:
        return os.environ.get("WORQR_REDIS_URL") or DEFAULT_URL
    if isinstance(value, str):
        if url_kind(value) is None:
            msg = (
                "redis must be a redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://, redis+cluster:// "
                f"or rediss+cluster:// URL or a client, got {redacted(value)!r}"
            )
            raise InvalidArgumentError(msg)
        return value
    return None


def url_kind(url: str) -> Kind | None:
    """Which kind of deployment ``url`` names; None if worqr does not know its scheme."""
    if url.startswith(SERVER_SCHEMES):
        return "server"
    if url.startswith(SENTINEL_SCHEMES):
        return "sentinel"
    if url.startswith(CLUSTER_SCHEMES):
        return "cluster"
    return None


def redacted(url: str) -> str:
    """``url`` without its user name and password."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    hosts = netloc.rpartition("@")[2]
    return f"{scheme}{sep}{'***@' if '@' in netloc else ''}{hosts}{slash}{tail}"


def address(item: str, default_port: int, what: str, bad: Callable[[str], InvalidArgumentError]) -> tuple[str, int]:
    """(host, port) of one ``host[:port]`` of a list (IPv6 hosts in brackets); ``bad`` makes
    the error for a problem, ``what`` names the item in it ("node", "sentinel")."""
    host, colon, port = item.rpartition(":")
    if not colon or "]" in port:  # no port, or an IPv6 address without one
        host, port = item, str(default_port)
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise bad(f"{what} {item!r} has no host")
    if not port.isdigit() or int(port) not in _PORTS:
        raise bad(f"{what} {item!r} has no valid port (1 to 65535)")
    return host, int(port)


@dataclass(frozen=True)
class _Parts:
    """A URL that names several hosts, taken apart."""

    tls: bool
    userinfo: str  # "user:password@" or ""
    hosts: list[tuple[str, int]]
    path: str
    query: str

    def connection(self, db: int, query: str, bad: Callable[[str], InvalidArgumentError]) -> dict[str, Any]:
        """redis-py's connection settings for the first host, with ``query``'s options."""
        host, port = self.hosts[0]
        plain = (
            f"{'rediss' if self.tls else 'redis'}://{self.userinfo}{f'[{host}]' if ':' in host else host}:{port}/{db}"
        )
        try:
            connection: dict[str, Any] = redis.connection.parse_url(f"{plain}?{query}" if query else plain)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise bad(str(exc)) from exc
        for name in ("host", "port", "connection_class"):
            connection.pop(name, None)
        if self.tls:
            connection["ssl"] = True
        return connection


def _split(url: str, default_port: int, what: str, bad: Callable[[str], InvalidArgumentError]) -> _Parts:
    tls = url.startswith("rediss+")
    rest = url.partition("://")[2]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not hosts:
        raise bad(f"it names no {what}")
    return _Parts(
        tls, userinfo + at, [address(item, default_port, what, bad) for item in hosts.split(",")], path, query
    )


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed Sentinel URL: where the sentinels are, the service (the primary's name in
    their configuration), and the connection settings for the primary and for the sentinels."""

    sentinels: list[tuple[str, int]]
    service_name: str
    connection: dict[str, Any]
    sentinel: dict[str, Any]


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse a ``redis+sentinel://`` or ``rediss+sentinel://`` URL."""

    def bad(problem: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"bad Sentinel URL {redacted(url)!r}: {problem}; expected {_SENTINEL_FORM}")

    parts = _split(url, DEFAULT_SENTINEL_PORT, "sentinel", bad)
    path = parts.path.rstrip("/").split("/")
    if not path[0]:
        raise bad("it names no service (the primary's name in the sentinels' configuration)")
    if len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):  # noqa: PLR2004 (service and db)
        raise bad(f"the database must be a number, got {'/'.join(path[1:])!r}")
    db = int(path[1]) if len(path) == 2 else 0  # noqa: PLR2004
    options = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    own = {
        name: options.pop(f"sentinel_{name}")[-1] for name in ("username", "password") if f"sentinel_{name}" in options
    }
    connection = parts.connection(db, urllib.parse.urlencode(options, doseq=True), bad)
    sentinel: dict[str, Any] = {"socket_connect_timeout": SENTINEL_TIMEOUT, "socket_timeout": SENTINEL_TIMEOUT, **own}
    if parts.tls:  # the pool then uses SentinelManagedSSLConnection; the sentinels speak TLS too
        sentinel.update({k: v for k, v in connection.items() if k.startswith("ssl")})
    return SentinelUrl(parts.hosts, urllib.parse.unquote(path[0]), connection, sentinel)


@dataclass(frozen=True)
class ClusterUrl:
    """A parsed cluster URL: the nodes to load the slot map from, and the connection settings
    (keyword arguments of redis-py's cluster clients)."""

    nodes: list[tuple[str, int]]
    connection: dict[str, Any]

    def where(self, tls: bool) -> str:
        """The URL without credentials or options (for messages)."""
        scheme = "rediss+cluster" if tls else "redis+cluster"
        return f"{scheme}://" + ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.nodes)


def parse_cluster_url(url: str) -> ClusterUrl:
    """Parse a ``redis+cluster://`` or ``rediss+cluster://`` URL."""

    def bad(problem: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"bad Redis Cluster URL {redacted(url)!r}: {problem}; expected {_CLUSTER_FORM}")

    parts = _split(url, DEFAULT_PORT, "node", bad)
    if parts.path.strip("/") not in ("", "0"):
        raise bad(f"a cluster has only database 0, got {parts.path.strip('/')!r}")
    connection = parts.connection(0, parts.query, bad)
    connection.pop("db", None)
    unknown = sorted(set(connection) - CLUSTER_OPTIONS)
    if unknown:
        raise bad(f"unknown option(s) {', '.join(unknown)}; a cluster URL takes {', '.join(sorted(CLUSTER_OPTIONS))}")
    return ClusterUrl(parts.hosts, connection)
