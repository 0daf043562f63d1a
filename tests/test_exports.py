"""The public API: ``worqr.__all__`` lists every name a user needs, and nothing else."""

from __future__ import annotations

import builtins
import importlib
import importlib.resources
import inspect
import re

import worqr
import worqr.errors

#: The private modules whose user-facing classes must be importable from ``worqr``.
USER_FACING = {
    "worqr._client": {"Worqr", "Queue"},
    "worqr._async_client": {"AsyncWorqr", "AsyncQueue"},
    "worqr._protocol.models": {"Process", "Event", "EventType"},
    "worqr._protocol.codec": {"Codec", "StrCodec", "BytesCodec", "JsonCodec"},
}


def _error_classes() -> dict[str, type[BaseException]]:
    return {
        name: obj
        for name, obj in vars(worqr.errors).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == worqr.errors.__name__
    }


def test_all_is_sorted_without_duplicates() -> None:
    assert worqr.__all__ == sorted(worqr.__all__)
    assert len(worqr.__all__) == len(set(worqr.__all__))


def test_every_name_in_all_exists() -> None:
    missing = [name for name in worqr.__all__ if not hasattr(worqr, name)]
    assert missing == []


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from worqr import *", namespace)  # noqa: S102 (a fixed statement, to test __all__)
    assert sorted(n for n in namespace if n != "__builtins__") == sorted(worqr.__all__)


def test_user_facing_classes_are_exported_as_themselves() -> None:
    for module_name, names in USER_FACING.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert name in worqr.__all__, f"{module_name}.{name} is not in worqr.__all__"
            assert getattr(worqr, name) is getattr(module, name), name


def test_public_classes_of_the_user_facing_modules_are_exported() -> None:
    """A new public class in one of these modules must be exported (or made private)."""
    for module_name in USER_FACING:
        module = importlib.import_module(module_name)
        defined = {
            name
            for name, obj in vars(module).items()
            if not name.startswith("_") and inspect.isclass(obj) and obj.__module__ == module_name
        }
        assert defined - set(worqr.__all__) == set(), module_name


def test_every_exception_is_exported() -> None:
    errors = _error_classes()
    assert "WorqrError" in errors
    for name, cls in errors.items():
        assert name in worqr.__all__, f"worqr.errors.{name} is not in worqr.__all__"
        assert getattr(worqr, name) is cls


def test_every_exception_derives_from_worqr_error() -> None:
    for name, cls in _error_classes().items():
        assert issubclass(cls, worqr.WorqrError), name
    for name in worqr.__all__:
        obj = getattr(worqr, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert issubclass(obj, worqr.WorqrError), name


def test_the_error_tree_in_the_errors_docstring_is_complete() -> None:
    documented = set(re.findall(r"\b([A-Z]\w*Error)\b", worqr.errors.__doc__ or "")) - set(dir(builtins))
    assert documented == set(_error_classes())


def test_errors_catchable_as_builtin_kinds() -> None:
    assert issubclass(worqr.InvalidArgumentError, ValueError)
    assert issubclass(worqr.InvalidNameError, worqr.InvalidArgumentError)
    assert issubclass(worqr.InvalidTaskTypeError, TypeError)
    assert issubclass(worqr.RedisUnavailableError, ConnectionError)
    assert issubclass(worqr.RedisPermissionError, worqr.RedisCommandError)


def test_version_is_a_string() -> None:
    assert isinstance(worqr.__version__, str)
    assert worqr.__version__


def test_ships_py_typed() -> None:
    marker = importlib.resources.files("worqr").joinpath("py.typed")
    assert marker.is_file()
