"""The Lua scripts: read from ``worqr/lua`` once, includes expanded, SHA1 computed locally."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_INCLUDE = re.compile(r"^-- @include (\w+)$", re.MULTILINE)
_LIMIT = re.compile(r"^local ([A-Z_]+) = (\d+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script ready to run: its name, flattened source and SHA1."""

    name: str
    source: str
    sha: str


#: The packages whose ``lua`` folder holds scripts: the core's, and each capability's. A
#: capability's script is named ``<package>/<name>`` (``calls/call``); every script includes
#: the fragments of ``worqr/lua/include``.
SCRIPT_PACKAGES = ("", "calls", "leases", "operations", "schedules", "streams")


def _folder(package: str) -> Any:
    folder = resources.files("worqr")
    return (folder.joinpath(package) if package else folder).joinpath("lua")


def _read(path: str, package: str = "") -> str:
    folder = _folder(package)
    for part in path.split("/"):
        folder = folder.joinpath(part)
    return str(folder.read_text(encoding="utf-8"))


def _expand(source: str, seen: tuple[str, ...]) -> str:
    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            msg = f"Lua include cycle: {' -> '.join((*seen, name))}"
            raise RuntimeError(msg)
        return _expand(_read(f"include/{name}.lua"), (*seen, name))

    return _INCLUDE.sub(include, source)


#: How the ``publish`` include sends; the sharded variant swaps in SPUBLISH (see `script`).
_PUBLISH = 'redis.call("PUBLISH", channel, message)'
_SPUBLISH = 'redis.call("SPUBLISH", channel, message)'


@cache
def script(name: str, *, sharded: bool = False) -> Script:
    """The script ``lua/<name>.lua``, with its ``-- @include`` lines replaced by the fragments.

    ``sharded``: the variant for a Redis Cluster, whose events go out with SPUBLISH (sharded
    pub/sub) so that they stay on the queue's shard instead of crossing the whole cluster.
    """
    package, _, base = name.rpartition("/")
    source = _expand(_read(f"{base}.lua", package), (name,))
    if sharded:
        source = source.replace(_PUBLISH, _SPUBLISH)
    return Script(name, source, hashlib.sha1(source.encode("utf-8")).hexdigest())  # noqa: S324 (Redis names scripts by SHA1)


def script_names() -> list[str]:
    """Names of all scripts shipped (see `SCRIPT_PACKAGES`)."""
    return sorted(
        f"{package}/{p.name.removesuffix('.lua')}" if package else p.name.removesuffix(".lua")
        for package in SCRIPT_PACKAGES
        for p in _folder(package).iterdir()
        if p.name.endswith(".lua")
    )


@cache
def limit(name: str) -> int:
    """A number defined in ``lua/include/limits.lua``, which the scripts include: the one
    place where the scripts and the Python side agree on it."""
    limits = dict(_LIMIT.findall(_read("include/limits.lua")))
    return int(limits[name])
