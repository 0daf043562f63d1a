"""`docs_from`: the asyncio face takes its docstrings from the threaded one, so that the two
cannot drift."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

C = TypeVar("C", bound=type)


def docs_from(source: type) -> Callable[[C], C]:
    """Give each method of the decorated class the docstring of its namesake in ``source``."""

    def decorate(cls: C) -> C:
        for name, member in vars(cls).items():
            original = getattr(source, name, None)
            if original is None or member.__doc__ is not None:
                continue
            if isinstance(member, property):
                setattr(cls, name, property(member.fget, member.fset, member.fdel, original.__doc__))
            elif callable(member):
                member.__doc__ = original.__doc__
        if cls.__doc__ is None:
            cls.__doc__ = source.__doc__
        return cls

    return decorate
