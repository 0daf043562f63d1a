"""worqr packs its commands itself (worqr._io.packing, without redis-py's per-argument
encoder): the bytes must be exactly those redis-py's own packers give, with hiredis and in
plain Python, and an argument Redis has no form for is refused rather than sent."""

from __future__ import annotations

from typing import Any

import pytest
from redis import connection

from worqr._io import packing

COMMANDS: list[tuple[Any, ...]] = [
    ("EVALSHA", "a" * 40, 5, "{p:q}:queue", "{p:q}:unique", "{p:q}:idle", "{p:q}:listed", "{p:q}:counters", "0", b"x"),
    ("HMGET", "{p:lease:n}:holder", "worker", "token", "acquired_at"),
    ("SET", "k", "\u00e9t\u00e9 \u2603", "PX", 1500),
    ("XADD", "s", "MAXLEN", "~", 10, "*", "data", b"\x00\xff\r\n"),
    ("ZADD", "z", 1.5, "m", -2, "n", 1e20, "o"),
    ("PING",),
    ("XINFO GROUPS", "{p:stream:s}:messages"),
    ("CLIENT KILL", "TYPE", "pubsub"),
    ("SET", "empty", b""),
]


def redis_py(command: tuple[Any, ...]) -> bytes:
    redis_py_connection: Any = connection  # its packer and encoder are untyped
    encoder = redis_py_connection.Encoder("utf-8", "strict", decode_responses=False)
    serializer = redis_py_connection.PythonRespSerializer(6000, encoder.encode)
    return b"".join(serializer.pack(*command))


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_the_packed_bytes_are_redis_pys(command: tuple[Any, ...]) -> None:
    assert packing.pack([command]) == [redis_py(command)]  # a two-word name as two words too
    words = (*command[0].split(), *command[1:])
    assert packing.python_pack(words) == redis_py(command)
    assert packing.pack_one(words) == redis_py(command)  # hiredis's where installed


def test_several_commands_are_one_write_in_order() -> None:
    assert packing.pack(COMMANDS) == [b"".join(map(redis_py, COMMANDS))]


@pytest.mark.parametrize("bad", [True, None, object(), ["a"]], ids=["bool", "None", "object", "list"])
def test_an_argument_redis_has_no_form_for_is_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="not a Redis argument"):
        packing.python_pack(("SET", "k", bad))
    with pytest.raises(TypeError, match=r"not a Redis argument|must be str, int, float or bytes"):  # or hiredis's words
        packing.pack([("SET", "k", bad)])


def test_a_big_argument_is_sent_as_a_chunk_of_its_own_and_the_bytes_are_the_same() -> None:
    big = b"\xff" * (packing.BIG + 1)
    commands: list[tuple[Any, ...]] = [("PING",), ("EVALSHA", "a" * 40, 1, "k", big, "tail"), ("GET", "k")]
    chunks = packing.pack(commands)
    assert any(chunk is big for chunk in chunks)  # not copied
    assert b"".join(chunks) == b"".join(map(redis_py, commands))
