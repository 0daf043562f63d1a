"""Typed values: JSON rebuilt from type annotations, with no I/O.

`TypedValue(tp)` turns values of the annotation ``tp`` into canonical JSON and back:
``to_json``/``from_json`` for bytes, ``dump``/``load`` for JSON-able objects. Encoding
refuses a value that does not fit ``tp`` with `InvalidTaskTypeError`; decoding refuses
bytes that do not fit it with `CodecError`. Both messages say what was wrong.

Two engines do the work, chosen when the `TypedValue` is built (``engine`` says which):

- ``"pydantic"``: when pydantic v2 is installed (the ``typed`` extra,
  ``pip install 'worqr[typed]'``), a pydantic ``TypeAdapter`` handles every annotation
  it can: dataclasses, TypedDicts, pydantic models, enums, datetimes, ``Optional``/``X | None``,
  unions, literals, lists, tuples, sets and dicts of them, nested. Encoding validates the
  value strictly (a dataclass field must hold its own type, an enum field an enum member,
  a datetime field a datetime) and revalidates dataclass instances, so a value is refused
  before it is written, not when a worker reads it. Decoding is pydantic's strict JSON
  mode: ``"36"`` is not an int, but an ISO string is a datetime and a value is its enum
  member.
- ``"builtin"``: the hand-written rebuild, used when pydantic is missing, and for a
  dataclass or TypedDict that pydantic cannot build a schema for (a ``typing.TypedDict``
  on Python < 3.12, a field of a class pydantic does not know), as before pydantic. It takes
  a dataclass (nested dataclass fields rebuilt too; field types are not checked), a
  TypedDict (a JSON object holding its required keys; values are not checked), or a plain
  JSON type: ``None``, ``bool``, ``int``, ``float``, ``str``, ``list``, ``dict`` (any JSON
  content). It refuses any other annotation with an error that names the ``typed`` extra.

What both engines share:

- The JSON is canonical: keys sorted, no spaces, UTF-8, and no NaN or Infinity. So equal
  values give equal bytes, which is what ``unique=True`` and ``cancel`` compare. Two
  cases stay outside: a set is written in its iteration order, and an aware datetime
  keeps its offset (``12:00+00:00`` and ``13:00+01:00`` are equal datetimes but two
  payloads). Use lists or tuples, and one timezone (UTC), in tasks marked unique.
- Unknown fields are refused on decoding, with the field named, unless
  ``ignore_unknown=True``: then an object's fields (dataclass) or keys (TypedDict) that the
  type does not know are dropped. That lets a rolling deploy add a field: give the new
  field a default, run the readers with ``ignore_unknown=True``, then start the writers
  that set it. Encoding refuses unknown keys either way. A pydantic model keeps its own
  ``extra`` setting.
- Datetimes (pydantic engine): an aware datetime is written with its offset and read back
  as an equal aware datetime (a fixed offset: a ``zoneinfo`` zone comes back as its offset
  at that time). A naive datetime is written without an offset and read back naive, the
  same wall-clock value: worqr does not guess a timezone. Producers and workers in other
  timezones read it as their own local time, so carry aware datetimes between machines;
  annotate ``pydantic.AwareDatetime`` to have naive ones refused.

pydantic is imported on the first `TypedValue` that needs it, never by ``import worqr``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Mapping
from typing import Any, Generic, Literal, TypeVar, cast, get_type_hints, overload

from typing_extensions import is_typeddict

from worqr.errors import CodecError, InvalidArgumentError, InvalidTaskTypeError

T = TypeVar("T")

Engine = Literal["pydantic", "builtin"]

#: The plain JSON types the builtin engine takes, with the JSON values each accepts.
_PLAIN: dict[object, tuple[type, ...]] = {
    type(None): (type(None),),
    bool: (bool,),
    int: (int,),
    float: (float, int),
    str: (str,),
    list: (list,),
    dict: (dict,),
}
_EXTRA_ERRORS = {"extra_forbidden", "unexpected_keyword_argument"}
_SHOWN_ERRORS = 3


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


def type_name(type_: object) -> str:
    """An annotation for a message: ``Order``, ``list[Order]``, ``Optional[int]``, without module paths."""
    if type_ is None or type_ is type(None):
        return "None"
    if isinstance(type_, type) and not getattr(type_, "__args__", None):
        return type_.__name__
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", repr(type_))


def canonical_json(value: object) -> bytes:
    """``value`` as canonical JSON: keys sorted, compact, UTF-8, no NaN or Infinity.

    Raises `TypeError` or `ValueError` (see `json_refusal`) for a value that is not JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError


class _Misfit(Exception):
    """An engine's reason for refusing a value or a payload; `TypedValue` words the error."""

    def __init__(self, reason: str, *, not_json: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.not_json = not_json


class _Unsupported(Exception):
    """An engine cannot carry the annotation; the reason is the message."""


class TypedValue(Generic[T]):
    """Values of one type annotation as canonical JSON, and back (see the module docstring).

    ``TypedValue(Order)``, ``TypedValue(list[Order])``, ``TypedValue(int | None)``
    (``TypedValue(None)`` is the type of None; `JsonCodec()` with no type takes any JSON). With
    ``ignore_unknown=True``, decoding drops the fields an object has that the type does not
    know, instead of refusing the payload. Raises `InvalidTaskTypeError` for an annotation
    that neither engine can carry.
    """

    engine: Engine

    @overload
    def __init__(self, type_: type[T], *, ignore_unknown: bool = False) -> None: ...
    @overload
    def __init__(self: TypedValue[Any], type_: Any, *, ignore_unknown: bool = False) -> None: ...
    def __init__(self, type_: Any, *, ignore_unknown: bool = False) -> None:
        flag: object = ignore_unknown  # checked at run time: callers are not always type-checked
        if not isinstance(flag, bool):
            msg = f"ignore_unknown must be True or False, got {shown(flag)}"
            raise InvalidArgumentError(msg)
        self.type_ = type(None) if type_ is None else type_
        self.ignore_unknown = ignore_unknown
        self.name = type_name(self.type_)
        self._engine: _PydanticEngine | _BuiltinEngine
        pydantic_refusal = None
        try:
            self._engine = _PydanticEngine(self.type_, ignore_unknown=ignore_unknown)
        except ImportError:
            pass
        except _Unsupported as exc:
            pydantic_refusal = str(exc)
        else:
            self.engine = "pydantic"
            return
        try:
            self._engine = _BuiltinEngine(self.type_, ignore_unknown=ignore_unknown)
        except _Unsupported as exc:
            if pydantic_refusal is not None:
                msg = (
                    f"pydantic cannot carry {self.name} as JSON ({pydantic_refusal}); give a dataclass or a "
                    "TypedDict, a pydantic model, or an annotation of them pydantic knows (list[...], X | None, ...)"
                )
                raise InvalidTaskTypeError(msg) from None
            msg = (
                f"{self.name} needs pydantic, which is not installed: {exc}; install the typed extra "
                "(pip install 'worqr[typed]') for any other annotation"
            )
            raise InvalidTaskTypeError(msg) from None
        self.engine = "builtin"

    def dump(self, value: T) -> object:
        """``value`` as a JSON-able object (what `to_json` writes); `InvalidTaskTypeError` if it does not fit."""
        obj = self._dump(value)
        self._encode(value, obj)
        return obj

    def to_json(self, value: T) -> bytes:
        """``value`` as canonical JSON bytes; `InvalidTaskTypeError` if it does not fit the type."""
        return self._encode(value, self._dump(value))

    def from_json(self, payload: bytes) -> T:
        """The value in ``payload``; `CodecError` for bytes that are not JSON or do not fit the type."""
        try:
            return cast("T", self._engine.from_json(payload))
        except _Misfit as exc:
            kind = "is not JSON" if exc.not_json else f"does not fit {self.name}"
            msg = f"payload {payload[:40]!r} {kind}: {exc.reason}"
            raise CodecError(msg, payload=payload) from exc.__cause__

    def load(self, obj: object) -> T:
        """The value a JSON-able object (as from ``json.loads``) holds; `CodecError` if it does not fit."""
        try:
            payload = canonical_json(obj)
        except (TypeError, ValueError) as exc:
            msg = f"{shown(obj)} is not a JSON value: {json_refusal(exc)}"
            raise CodecError(msg, payload=b"") from exc
        return self.from_json(payload)

    def _dump(self, value: T) -> object:
        try:
            return self._engine.dump(value)
        except _Misfit as exc:
            why = f": {exc.reason}" if exc.reason else ""
            msg = f"expected {self.name}{why}; got {type(value).__name__}: {shown(value)}"
            raise InvalidTaskTypeError(msg) from exc.__cause__

    def _encode(self, value: T, obj: object) -> bytes:
        try:
            return canonical_json(obj)
        except (TypeError, ValueError) as exc:
            msg = f"{shown(value)} cannot be encoded as JSON: {json_refusal(exc)}"
            raise InvalidTaskTypeError(msg) from exc

    def __repr__(self) -> str:
        unknown = ", ignore_unknown=True" if self.ignore_unknown else ""
        return f"TypedValue({self.name}{unknown})"


# The pydantic engine --------------------------------------------------------------------------


class _PydanticEngine:
    """A strict pydantic ``TypeAdapter`` for validating, one for decoding (``extra`` differs
    when ``ignore_unknown``). Raises ImportError without pydantic, `_Unsupported` for a type
    pydantic cannot build a schema for."""

    def __init__(self, type_: Any, *, ignore_unknown: bool) -> None:
        self._encoder = self._adapter(type_, extra="forbid")
        self._decoder = self._adapter(type_, extra="ignore") if ignore_unknown else self._encoder

    @staticmethod
    def _adapter(type_: Any, *, extra: Literal["forbid", "ignore"]) -> Any:
        from pydantic import ConfigDict, PydanticUserError, TypeAdapter  # noqa: PLC0415 (optional: the typed extra)
        from pydantic.errors import PydanticUndefinedAnnotation  # noqa: PLC0415
        from typing_extensions import TypeAliasType  # noqa: PLC0415

        config = ConfigDict(
            extra=extra,
            revalidate_instances="always",  # a dataclass instance is checked field by field
            allow_inf_nan=False,
            ser_json_inf_nan="constants",  # a NaN in an untyped part reaches json.dumps, which refuses it
        )
        # The config reaches dataclasses and TypedDicts (nested ones too) only through a
        # wrapper: pydantic refuses a config given with one of them at the top.
        wrapped = TypeAliasType("Task", type_)  # type: ignore[misc]
        try:
            adapter: Any = TypeAdapter(cast("Any", wrapped), config=config)
        except (PydanticUserError, PydanticUndefinedAnnotation, TypeError) as exc:
            raise _Unsupported(str(exc).split("\n", 1)[0].split(". ", 1)[0]) from exc
        if not getattr(adapter, "pydantic_complete", True):
            msg = "its annotations name types that cannot be resolved"
            raise _Unsupported(msg)
        return adapter

    def dump(self, value: object) -> object:
        from pydantic import ValidationError  # noqa: PLC0415
        from pydantic_core import PydanticSerializationError  # noqa: PLC0415

        try:
            checked = self._encoder.validate_python(value, strict=True)
            return self._encoder.dump_python(checked, mode="json")
        except ValidationError as exc:
            raise _Misfit(_reasons(exc.errors())) from exc
        except PydanticSerializationError as exc:
            raise _Misfit(str(exc)) from exc

    def from_json(self, payload: bytes) -> object:
        from pydantic import ValidationError  # noqa: PLC0415

        try:
            return self._decoder.validate_json(payload, strict=True)
        except ValidationError as exc:
            errors = exc.errors()
            raise _Misfit(_reasons(errors), not_json=errors[0]["type"] == "json_invalid") from exc


def _reasons(errors: Any) -> str:
    """pydantic's errors in one line: ``address.city: Input should be a valid string; ...``."""
    parts = []
    for error in errors[:_SHOWN_ERRORS]:
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in error["loc"]).replace(".[", "[")
        what = error["msg"]
        if error["type"] in _EXTRA_ERRORS:
            what = "unknown field (ignore_unknown=True drops it)"
        parts.append(f"{where}: {what}" if where else what)
    if len(errors) > _SHOWN_ERRORS:
        parts.append(f"and {len(errors) - _SHOWN_ERRORS} more")
    return "; ".join(parts)


# The builtin engine ---------------------------------------------------------------------------


class _BuiltinEngine:
    """The hand-written rebuild: dataclasses, TypedDicts and the plain JSON types."""

    def __init__(self, type_: Any, *, ignore_unknown: bool) -> None:
        if not (type_ in _PLAIN or dataclasses.is_dataclass(type_) or is_typeddict(type_)):
            msg = "without it, a type is a dataclass or a TypedDict, or one of None, bool, int, float, str, list, dict"
            raise _Unsupported(msg)
        self.type_ = type_
        self.ignore_unknown = ignore_unknown

    def dump(self, value: object) -> object:
        type_ = self.type_
        if type_ in _PLAIN:
            _check_plain(type_, value)
            return float(cast("float", value)) if type_ is float else value
        if dataclasses.is_dataclass(type_):
            if not isinstance(value, cast("type", type_)):
                raise _Misfit("")
            return dataclasses.asdict(cast("Any", value))
        try:  # a TypedDict: refuse now what decoding would refuse later
            _build(type_, value, ignore_unknown=False)
        except (TypeError, KeyError) as exc:
            raise _Misfit(f"a dict with its required keys and no others: {exc}") from exc
        return value

    def from_json(self, payload: bytes) -> object:
        try:
            value = json.loads(payload)
        except ValueError as exc:
            raise _Misfit(json_refusal(exc), not_json=True) from exc
        if self.type_ in _PLAIN:
            _check_plain(self.type_, value)
            return float(value) if self.type_ is float else value
        try:
            return _build(self.type_, value, ignore_unknown=self.ignore_unknown)
        except (TypeError, ValueError, KeyError) as exc:
            raise _Misfit(str(exc)) from exc


def _check_plain(type_: object, value: object) -> None:
    accepted = _PLAIN[type_]
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
        msg = f"expected {type_name(type_)}, got {type(value).__name__}"
        raise _Misfit(msg)


def _build(type_: Any, value: object, *, ignore_unknown: bool) -> object:
    if not isinstance(value, Mapping):
        msg = f"expected a JSON object, got {type(value).__name__}"
        raise TypeError(msg)
    if is_typeddict(type_):
        missing = sorted(type_.__required_keys__ - set(value))
        if missing:
            msg = f"missing keys {missing}"
            raise KeyError(msg)
        known = type_.__required_keys__ | type_.__optional_keys__
        unknown = sorted(map(str, set(value) - known))
        if unknown and not ignore_unknown:
            msg = f"unknown keys {unknown} (ignore_unknown=True drops them)"
            raise TypeError(msg)
        return {k: v for k, v in value.items() if k in known}
    hints = get_type_hints(type_)
    fields = {f.name for f in dataclasses.fields(type_) if f.init}
    unknown = sorted(map(str, set(value) - fields))
    if unknown and not ignore_unknown:
        msg = f"unknown fields {unknown} (ignore_unknown=True drops them)"
        raise TypeError(msg)
    kwargs = {}
    for name, item in value.items():
        if name not in fields:
            continue
        hint = hints.get(name)
        is_nested = isinstance(hint, type) and dataclasses.is_dataclass(hint)
        kwargs[name] = _build(hint, item, ignore_unknown=ignore_unknown) if is_nested else item
    return type_(**kwargs)
