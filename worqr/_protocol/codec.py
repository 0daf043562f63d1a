"""Codecs: how a typed task becomes the bytes stored in Redis, and back.

A payload is stored as-is: the codec's bytes are the list element, with no envelope.
No codec runs code found in a payload (there is no pickle).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar, cast, get_type_hints, overload, runtime_checkable

from typing_extensions import is_typeddict

from worqr.errors import CodecError, InvalidTaskTypeError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


def shown(value: object) -> str:
    """``value`` for a message: its repr, cut to 80 characters. A value whose repr fails (an
    int longer than Python's int-to-str limit, or a container holding one) is named by type."""
    try:
        return f"{value!r:.80}"
    except ValueError:
        return f"<{type(value).__name__} too large to show>"


def json_refusal(exc: TypeError | ValueError) -> str:
    """Why ``json.dumps`` (or ``json.loads``) refused a value, in words."""
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
        return (
            f"it holds an integer of more than {limit} digits, longer than Python turns into text "
            "(sys.get_int_max_str_digits()); carry such a number as a string"
        )
    return str(exc)


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
    """JSON tasks: plain JSON values, or, given ``type_``, a dataclass or TypedDict.

    With a dataclass type, tasks are encoded from its fields and decoded back into an instance
    (nested dataclass fields included). With a TypedDict, the decoded object must be a JSON
    object holding every required key. Keys are sorted, so equal values give equal payloads
    (which is what ``unique=True`` and ``cancel`` compare).
    """

    @overload
    def __init__(self: JsonCodec[Any], type_: None = None) -> None: ...
    @overload
    def __init__(self, type_: type[T]) -> None: ...
    def __init__(self, type_: type[T] | None = None) -> None:
        if type_ is not None and not (dataclasses.is_dataclass(type_) or is_typeddict(type_)):
            msg = f"JsonCodec(type_=...) takes a dataclass or a TypedDict, got {type_!r}"
            raise InvalidTaskTypeError(msg)
        self.type_ = type_

    def encode(self, task: T) -> bytes:
        value: object = task
        if self.type_ is not None and dataclasses.is_dataclass(self.type_):
            if not isinstance(task, self.type_):
                msg = f"a task must be a {self.type_.__name__}, got {type(task).__name__}: {shown(task)}"
                raise InvalidTaskTypeError(msg)
            value = dataclasses.asdict(task)
        elif self.type_ is not None:  # a TypedDict: refuse now what decode would refuse later
            try:
                _build(self.type_, task)
            except (TypeError, KeyError) as exc:
                msg = (
                    f"a task must be a {self.type_.__name__} (a dict with its required keys), got {shown(task)}: {exc}"
                )
                raise InvalidTaskTypeError(msg) from exc
        try:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            msg = f"task {shown(task)} cannot be encoded as JSON: {json_refusal(exc)}"
            raise InvalidTaskTypeError(msg) from exc
        return text.encode("utf-8")

    def decode(self, payload: bytes) -> T:
        try:
            value = json.loads(payload)
        except ValueError as exc:
            msg = f"payload {payload[:40]!r} is not JSON: {json_refusal(exc)}"
            raise CodecError(msg, payload=payload) from exc
        if self.type_ is None:
            return cast("T", value)
        try:
            return cast("T", _build(self.type_, value))
        except (TypeError, ValueError, KeyError) as exc:
            msg = f"payload {payload[:40]!r} does not fit {self.type_.__name__}: {exc}"
            raise CodecError(msg, payload=payload) from exc

    def __repr__(self) -> str:
        name = "" if self.type_ is None else self.type_.__name__
        return f"JsonCodec({name})"


def _build(type_: type[Any], value: object) -> object:
    if not isinstance(value, Mapping):
        msg = f"expected a JSON object, got {type(value).__name__}"
        raise TypeError(msg)
    if is_typeddict(type_):
        missing = sorted(type_.__required_keys__ - set(value))
        if missing:
            msg = f"missing keys {missing}"
            raise KeyError(msg)
        return dict(value)
    hints = get_type_hints(type_)
    fields = {f.name for f in dataclasses.fields(type_) if f.init}
    unknown = sorted(set(value) - fields)
    if unknown:
        msg = f"unknown fields {unknown}"
        raise TypeError(msg)
    kwargs = {}
    for name, item in value.items():
        hint = hints.get(name)
        is_nested = isinstance(hint, type) and dataclasses.is_dataclass(hint)
        kwargs[name] = _build(hint, item) if is_nested else item  # type: ignore[arg-type]
    return type_(**kwargs)


def accepts_batches(codec: Codec[Any]) -> bool:
    """True if an iterable given to ``enqueue`` is a batch rather than one task.

    True for text and bytes codecs (a str or bytes is one task, any other iterable a batch);
    False for JSON, where a list is one JSON task (use ``enqueue_many`` for a batch).
    """
    return isinstance(codec, StrCodec | BytesCodec)
