"""Codecs: how a typed task becomes the bytes stored in Redis, and back.

A payload is stored as-is: the codec's bytes are the list element, with no envelope.
No codec runs code found in a payload (there is no pickle).
"""

from __future__ import annotations

import json
from typing import Any, Generic, Protocol, TypeVar, cast, overload, runtime_checkable

from worqr._protocol.typed import TypedValue, canonical_json, json_refusal, shown, type_name
from worqr.errors import CodecError, InvalidArgumentError, InvalidTaskTypeError

# shown and json_refusal live in typed.py (which this module builds on) and are kept here too.
__all__ = ["BytesCodec", "Codec", "JsonCodec", "StrCodec", "accepts_batches", "json_refusal", "shown"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@runtime_checkable
class Codec(Protocol[T]):
    """Turns tasks of type ``T`` into bytes and back.

    ``encode`` raises `InvalidTaskTypeError` (a `TypeError`) for a value it cannot encode;
    ``decode`` raises `CodecError` for bytes it cannot decode.
    """

    def encode(self, task: T) -> bytes: ...

    def decode(self, payload: bytes) -> T: ...


class StrCodec:
    """Text tasks, stored as UTF-8. The codec of the untyped methods."""

    def encode(self, task: str) -> bytes:
        value: object = task  # checked at run time: callers are not always type-checked
        if not isinstance(value, str):
            msg = f"a task must be a str, got {type(task).__name__}: {shown(task)}; use BytesCodec or JsonCodec for other types"
            raise InvalidTaskTypeError(msg)
        try:
            return task.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = f"task {shown(task)} is not valid Unicode text (cannot be encoded as UTF-8)"
            raise InvalidTaskTypeError(msg) from exc

    def decode(self, payload: bytes) -> str:
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"payload {payload[:40]!r} is not UTF-8 text; read this queue with BytesCodec"
            raise CodecError(msg, payload=payload) from exc

    def __repr__(self) -> str:
        return "StrCodec()"


class BytesCodec:
    """Binary tasks: any bytes, stored unchanged."""

    def encode(self, task: bytes) -> bytes:
        value: object = task  # checked at run time: callers are not always type-checked
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if not isinstance(value, bytes):
            msg = f"a task must be bytes, got {type(task).__name__}: {shown(task)}"
            raise InvalidTaskTypeError(msg)
        return task

    def decode(self, payload: bytes) -> bytes:
        return payload

    def __repr__(self) -> str:
        return "BytesCodec()"


class JsonCodec(Generic[T]):
    """JSON tasks: plain JSON values, or, given ``type_``, values of that type annotation.

    ``JsonCodec()`` takes any JSON value (None, bool, int, float, str, and lists and dicts of
    them) with no type, and needs nothing beyond the core. ``JsonCodec(type_)`` encodes and
    decodes through a `TypedValue` (``worqr/_protocol/typed.py``): with pydantic installed
    (the ``typed`` extra, ``pip install 'worqr[typed]'``), ``type_`` may be any annotation
    pydantic handles: dataclasses, TypedDicts, pydantic models, enums, datetimes,
    ``Optional``/``X | None``, lists and dicts of them, nested; the task is checked against
    it strictly before anything is written, and rebuilt from it when read. Without pydantic,
    the hand-written rebuild takes a dataclass (nested dataclass fields rebuilt too), a
    TypedDict (an object holding every required key) or a plain JSON type, and refuses other
    annotations with an error naming the ``typed`` extra. ``codec.typed.engine`` says which
    engine a codec uses.

    Keys are sorted and the JSON is compact, so equal values give equal payloads (which is
    what ``unique=True`` and ``cancel`` compare). A payload with a field the type does not
    know is refused with a `CodecError` naming it, unless ``ignore_unknown=True``: then such
    fields are dropped, so that readers keep working while a rolling deploy adds a field.
    """

    @overload
    def __init__(self: JsonCodec[Any], type_: None = None, *, ignore_unknown: bool = False) -> None: ...
    @overload
    def __init__(self, type_: type[T], *, ignore_unknown: bool = False) -> None: ...
    @overload
    def __init__(self: JsonCodec[Any], type_: Any, *, ignore_unknown: bool = False) -> None: ...
    def __init__(self, type_: Any = None, *, ignore_unknown: bool = False) -> None:
        flag: object = ignore_unknown  # checked at run time: callers are not always type-checked
        if not isinstance(flag, bool):
            msg = f"ignore_unknown must be True or False, got {shown(flag)}"
            raise InvalidArgumentError(msg)
        self.type_ = type_
        self.typed: TypedValue[T] | None = None if type_ is None else TypedValue(type_, ignore_unknown=ignore_unknown)
        self.ignore_unknown = ignore_unknown

    def encode(self, task: T) -> bytes:
        if self.typed is not None:
            return self.typed.to_json(task)
        try:
            return canonical_json(task)
        except (TypeError, ValueError) as exc:
            msg = f"task {shown(task)} cannot be encoded as JSON: {json_refusal(exc)}"
            raise InvalidTaskTypeError(msg) from exc

    def decode(self, payload: bytes) -> T:
        if self.typed is not None:
            return self.typed.from_json(payload)
        try:
            return cast("T", json.loads(payload))
        except ValueError as exc:
            msg = f"payload {payload[:40]!r} is not JSON: {json_refusal(exc)}"
            raise CodecError(msg, payload=payload) from exc

    def __repr__(self) -> str:
        name = "" if self.type_ is None else type_name(self.type_)
        unknown = ", ignore_unknown=True" if self.ignore_unknown and self.typed is not None else ""
        return f"JsonCodec({name}{unknown})"


def accepts_batches(codec: Codec[Any]) -> bool:
    """True if an iterable given to ``enqueue`` is a batch rather than one task.

    True for text and bytes codecs (a str or bytes is one task, any other iterable a batch);
    False for JSON, where a list is one JSON task (use ``enqueue_many`` for a batch).
    """
    return isinstance(codec, StrCodec | BytesCodec)
