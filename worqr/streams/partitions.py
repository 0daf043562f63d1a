"""Ordered streams, as plain values: the checks of their options, which partition a key goes
to, and the ids of their messages (``"<partition>/<stream id>"``). Pure."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from worqr._protocol.checks import check_int
from worqr.errors import InvalidArgumentError
from worqr.streams.messages import check_message_id

#: The partitions of an ordered stream unless ``partitions=`` says otherwise: the most
#: consumers of one group that can work on it at once.
DEFAULT_PARTITIONS = 8
MAX_PARTITIONS = 1024


def check_shape(ordered: object, partitions: object, key: object) -> int:
    """The stream's partitions: 0 for a stream that is not ordered, else ``partitions``."""
    if not isinstance(ordered, bool):
        msg = f"ordered must be True or False, got {ordered!r}"
        raise InvalidArgumentError(msg)
    if key is not None and not callable(key):
        msg = f"key must be a function of a message that returns its ordering key (a str), got {key!r}"
        raise InvalidArgumentError(msg)
    if not ordered:
        if key is not None or partitions is not None:
            msg = "partitions= and key= apply to an ordered stream: pass ordered=True as well"
            raise InvalidArgumentError(msg)
        return 0
    if partitions is None:
        return DEFAULT_PARTITIONS
    return check_int("partitions", partitions, 1, MAX_PARTITIONS)


def partition_of(key: object, partitions: int) -> int:
    """The partition of messages with ordering key ``key`` (CRC-32 of its UTF-8 bytes, so
    that every process, in any language, agrees)."""
    if not isinstance(key, str):
        msg = f"an ordering key must be a str, got {type(key).__name__}: {key!r}"
        raise InvalidArgumentError(msg)
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % partitions


def route(items: list[Any], partitions: int, key: Callable[[Any], object] | None, given: str | None) -> list[int]:
    """The partition of each message: by ``given`` (one key for all), else by ``key(item)``."""
    if given is not None:
        return [partition_of(given, partitions)] * len(items)
    if key is None:
        msg = "an ordered stream needs each message's ordering key: give the stream key=<function>, or publish(..., key=...)"
        raise InvalidArgumentError(msg)
    return [partition_of(key(item), partitions) for item in items]


def qualify(partition: int | None, message_id: str) -> str:
    """The id a message of an ordered stream is known by: ``"<partition>/<stream id>"``."""
    return message_id if partition is None else f"{partition}/{message_id}"


def split_id(name: str, value: object, partitions: int) -> tuple[int | None, str]:
    """(partition, stream id) of a message id of a stream with ``partitions`` (0: not ordered)."""
    if partitions == 0:
        return None, check_message_id(name, value)
    text = value if isinstance(value, str) else ""
    head, slash, rest = text.partition("/")
    if not slash or not head.isdigit() or not int(head) < partitions:
        msg = (
            f"{name} must be a message id of this ordered stream, '<partition>/<id>' with a partition "
            f"below {partitions} (as publish and next() return it), got {value!r}"
        )
        raise InvalidArgumentError(msg)
    return int(head), check_message_id(name, rest)
