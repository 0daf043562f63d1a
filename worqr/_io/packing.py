"""Commands as the bytes of the Redis protocol, packed without redis-py's per-argument
encoder, which costs more than the rest of a call's Python on the hot path (one enqueue is
one ``EVALSHA`` of a dozen arguments). worqr's arguments are text (keys, channels, flags),
bytes (payloads) or numbers. Where hiredis is installed (the default install, where it has
a wheel) one ``hiredis.pack_command`` per command does it in C; elsewhere a packer in plain
Python. Both give the bytes redis-py's packers give (``tests/test_runner.py`` checks)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any


def _hiredis_packer() -> Callable[[tuple[Any, ...]], bytes] | None:
    try:
        module: Any = importlib.import_module("hiredis")
    except ImportError:  # pragma: no cover - depends on the install
        return None
    packer: Callable[[tuple[Any, ...]], bytes] = module.pack_command
    return packer


_hiredis_pack = _hiredis_packer()


def _argument(arg: Any) -> bytes:
    kind = arg.__class__
    if kind is bytes:
        return arg  # type: ignore[no-any-return]  # checked: exactly bytes
    if kind is str:
        return arg.encode()  # type: ignore[no-any-return]  # checked: exactly str
    if kind is int or kind is float:
        return repr(arg).encode()
    if isinstance(arg, bytes | bytearray | memoryview):
        return bytes(arg)
    if isinstance(arg, str):
        return str(arg).encode()
    if isinstance(arg, int | float) and not isinstance(arg, bool):
        return repr(arg).encode()
    msg = f"not a Redis argument: {type(arg).__name__} {arg!r} (worqr passes text, bytes or numbers)"
    raise TypeError(msg)


def python_pack(command: tuple[Any, ...]) -> bytes:
    """One command in the Redis protocol, in plain Python."""
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = _argument(arg)
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


def _with(hiredis_pack: Callable[[tuple[Any, ...]], bytes]) -> Callable[[tuple[Any, ...]], bytes]:
    def checked(command: tuple[Any, ...]) -> bytes:
        if bool in map(type, command):  # hiredis would send True as "1" (in C: cheap)
            msg = f"not a Redis argument: bool in {command[:2]!r}"
            raise TypeError(msg)
        return hiredis_pack(command)

    return checked


#: The packer of one command: hiredis's where it is installed.
pack_one: Callable[[tuple[Any, ...]], bytes] = python_pack if _hiredis_pack is None else _with(_hiredis_pack)


def _split(command: tuple[Any, ...]) -> tuple[Any, ...]:
    """A command whose name has a space (``"XINFO GROUPS"``, ``"SCRIPT LOAD"``) as the
    separate words Redis expects, as redis-py's packers send it."""
    name = command[0]
    if name.__class__ is str and " " in name:
        return (*name.split(), *command[1:])
    return command


#: An argument longer than this (a big payload) is sent as a chunk of its own instead of
#: being copied into its command's bytes (hiredis and a join copy it: about 150 ms for 40 MB
#: here, time an asyncio client's loop would be blocked).
BIG = 64 * 1024


def _chunks(command: tuple[Any, ...]) -> list[bytes]:
    """A command with a big argument, in chunks that leave the big arguments uncopied."""
    out: list[bytes] = []
    small = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = _argument(arg)
        small.append(b"$%d\r\n" % len(data))
        if len(data) > BIG:
            out += (b"".join(small), data)
            small = [b"\r\n"]
        else:
            small += (data, b"\r\n")
    out.append(b"".join(small))
    return out


def pack(commands: Sequence[tuple[Any, ...]]) -> list[bytes]:
    """The commands, in order, as the chunks of one write (what ``send_packed_command``
    takes): one chunk, unless an argument is big (`BIG`)."""
    out: list[bytes] = []
    pending: list[bytes] = []
    for command in map(_split, commands):
        if any(arg.__class__ is bytes and len(arg) > BIG for arg in command):
            if pending:
                out.append(b"".join(pending))
                pending = []
            out += _chunks(command)
        else:
            pending.append(pack_one(command))
    if pending:
        out.append(pending[0] if len(pending) == 1 else b"".join(pending))
    return out
