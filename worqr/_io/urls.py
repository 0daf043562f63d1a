"""Parts of the URLs that name several servers (``redis+sentinel://``, ``redis+cluster://``):
a list of ``host[:port]`` and a form of the URL safe to show in errors. No I/O."""

from __future__ import annotations

from collections.abc import Callable

from worqr.errors import InvalidArgumentError

_PORTS = range(1, 65536)


def redacted(url: str) -> str:
    """``url`` without its user name and password."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    hosts = netloc.rpartition("@")[2]
    return f"{scheme}{sep}{'***@' if '@' in netloc else ''}{hosts}{slash}{tail}"


def address(item: str, default_port: int, what: str, bad: Callable[[str], InvalidArgumentError]) -> tuple[str, int]:
    """(host, port) of one ``host[:port]`` of the list (IPv6 hosts in brackets); ``bad``
    makes the error for a problem, ``what`` names the item in it ("node", "sentinel")."""
    host, colon, port = item.rpartition(":")
    if not colon or "]" in port:  # no port, or an IPv6 address without one
        host, port = item, str(default_port)
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise bad(f"{what} {item!r} has no host")
    if not port.isdigit() or int(port) not in _PORTS:
        raise bad(f"{what} {item!r} has no valid port (1 to 65535)")
    return host, int(port)
