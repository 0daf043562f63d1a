"""A function's arguments and result as JSON, rebuilt from its annotations (`Signature`).

A call's body is ``{"args": [...], "kwargs": {...}}``: the positional arguments in order and
the keyword ones by name, each value as its parameter's annotation encodes it through a
`TypedValue` (pydantic with the ``typed`` extra; plain JSON types, dataclasses and TypedDicts
without it). An unannotated parameter (or one annotated ``Any``) carries any JSON value. The
result is encoded by the return annotation in the same way. No I/O.

What is refused, and when:

- on the caller, before anything is written: arguments that do not bind to the signature
  (too many, a missing one, an unknown keyword), and values that do not fit their
  annotation or are not JSON (`InvalidArgumentError`, `InvalidTaskTypeError`);
- on the worker, before the function runs: a body that is not this shape, or whose values
  do not fit (an older or newer caller): `CodecError`, and the call fails at once (no retry);
- on the worker, after it ran: a result that does not fit the return annotation fails the
  attempt like any exception;
- on the caller, reading a result: a stored result that does not fit the annotation raises
  `CodecError` from ``result()``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_type_hints

from worqr._protocol.typed import TypedValue, canonical_json, json_refusal, shown
from worqr.errors import CodecError, InvalidArgumentError, InvalidTaskTypeError


def _check_keys(name: str, function: str, value: object, depth: int = 0) -> None:
    """Refuse a dict key that is not a str in an untyped value: JSON would turn it into a
    string silently, and the function would get another value than the caller passed."""
    if depth > 100:  # noqa: PLR2004 (json.dumps refuses what is deeper anyway)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                msg = (
                    f"argument {name!r} of {function}: the dict key {shown(key)} is not a str, and JSON would "
                    "make it one; annotate the parameter (dict[int, ...]) or use str keys"
                )
                raise InvalidTaskTypeError(msg)
            _check_keys(name, function, item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_keys(name, function, item, depth + 1)


def _typed(annotation: object, ignore_unknown: bool) -> TypedValue[Any] | None:
    """The `TypedValue` of an annotation; None for no annotation or ``Any`` (any JSON)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return None
    return TypedValue(annotation, ignore_unknown=ignore_unknown)


class Signature:
    """How the arguments and the result of one function travel (see the module docstring).

    Built when the function is registered, so an annotation no engine can carry is refused
    then (`InvalidTaskTypeError`). ``ignore_unknown``: objects' fields that a type does not
    know are dropped on reading instead of refused (see `TypedValue`)."""

    def __init__(self, fn: Callable[..., Any], *, ignore_unknown: bool = False) -> None:
        self.name = getattr(fn, "__qualname__", repr(fn))
        self.signature = inspect.signature(fn)
        try:
            hints = get_type_hints(fn)
        except (NameError, TypeError) as exc:
            msg = f"the annotations of {self.name} cannot be resolved ({exc}); import the types they name"
            raise InvalidTaskTypeError(msg) from exc
        self.params: dict[str, TypedValue[Any] | None] = {}
        for param in self.signature.parameters.values():
            annotation = hints.get(param.name, inspect.Parameter.empty)
            try:
                self.params[param.name] = _typed(annotation, ignore_unknown)
            except InvalidTaskTypeError as exc:
                msg = f"parameter {param.name!r} of {self.name}: {exc}"
                raise InvalidTaskTypeError(msg) from exc
        try:
            self.returns = _typed(hints.get("return", inspect.Parameter.empty), ignore_unknown)
        except InvalidTaskTypeError as exc:
            msg = f"the result of {self.name}: {exc}"
            raise InvalidTaskTypeError(msg) from exc

    def __str__(self) -> str:
        return f"{self.name}{self.signature}"

    # The caller's side -----------------------------------------------------------------

    def encode(self, args: Sequence[object], kwargs: Mapping[str, object]) -> bytes:
        """The body of a call with these arguments; refused before anything is written."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            msg = f"the arguments do not fit {self}: {exc}"
            raise InvalidArgumentError(msg) from None
        positional, keywords = self._split(bound)
        body = {
            "args": [self._dump(name, value) for name, value in positional],
            "kwargs": {key: self._dump(name, value) for key, (name, value) in keywords.items()},
        }
        try:
            return canonical_json(body)
        except (TypeError, ValueError) as exc:  # a value under Any that is not JSON
            msg = f"the arguments of {self.name} cannot be encoded as JSON: {json_refusal(exc)}"
            raise InvalidTaskTypeError(msg) from exc

    def load_result(self, obj: object) -> Any:
        """The result a caller gets from the JSON value stored for it."""
        return obj if self.returns is None else self.returns.load(obj)

    # The worker's side -----------------------------------------------------------------

    def decode(self, body: bytes) -> tuple[list[Any], dict[str, Any]]:
        """The arguments in a call's body, rebuilt; `CodecError` for a body that does not fit."""
        try:
            value = json.loads(body)
        except ValueError as exc:
            msg = f"the arguments of a call of {self.name} are not JSON: {json_refusal(exc)}"
            raise CodecError(msg, payload=body) from exc
        if (
            not isinstance(value, dict)
            or set(value) != {"args", "kwargs"}
            or not isinstance(value["args"], list)
            or not isinstance(value["kwargs"], dict)
        ):
            msg = f'the arguments of a call of {self.name} must be {{"args": [...], "kwargs": {{...}}}}, got {shown(value)}'
            raise CodecError(msg, payload=body)
        try:
            bound = self.signature.bind(*value["args"], **value["kwargs"])
        except TypeError as exc:
            msg = f"the arguments of a call do not fit {self}: {exc}"
            raise CodecError(msg, payload=body) from None
        positional, keywords = self._split(bound)
        args = [self._load(name, item, body) for name, item in positional]
        kwargs = {key: self._load(name, item, body) for key, (name, item) in keywords.items()}
        return args, kwargs

    def dump_result(self, value: object) -> object:
        """The JSON value stored for a result (`InvalidTaskTypeError` if it does not fit)."""
        if self.returns is None:
            return value
        try:
            return self.returns.dump(value)
        except InvalidTaskTypeError as exc:
            msg = f"{self.name} returned a value that does not fit its annotation: {exc}"
            raise InvalidTaskTypeError(msg) from exc

    # Both --------------------------------------------------------------------------------

    def _split(self, bound: inspect.BoundArguments) -> tuple[list[tuple[str, object]], dict[str, tuple[str, object]]]:
        """The arguments as `inspect.BoundArguments` splits them into ``args`` and ``kwargs``,
        each with the name of its parameter (``*args`` and ``**kwargs`` spread)."""
        positional: list[tuple[str, object]] = []
        keywords: dict[str, tuple[str, object]] = {}
        by_keyword = False
        for param in self.signature.parameters.values():
            if param.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
                by_keyword = True
            if param.name not in bound.arguments:
                by_keyword = True
                continue
            value = bound.arguments[param.name]
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                keywords.update({key: (param.name, item) for key, item in value.items()})
            elif by_keyword:
                keywords[param.name] = (param.name, value)
            elif param.kind is inspect.Parameter.VAR_POSITIONAL:
                positional.extend((param.name, item) for item in value)
            else:
                positional.append((param.name, value))
        return positional, keywords

    def _dump(self, name: str, value: object) -> object:
        typed = self.params.get(name)
        if typed is None:
            _check_keys(name, self.name, value)
            return value
        try:
            return typed.dump(value)
        except InvalidTaskTypeError as exc:
            msg = f"argument {name!r} of {self.name}: {exc}"
            raise InvalidTaskTypeError(msg) from exc

    def _load(self, name: str, value: object, body: bytes) -> object:
        typed = self.params.get(name)
        if typed is None:
            return value
        try:
            return typed.load(value)
        except CodecError as exc:
            msg = f"argument {name!r} of a call of {self.name}: {exc}"
            raise CodecError(msg, payload=body) from exc
