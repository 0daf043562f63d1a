"""Calls are typed end to end: mypy (strict) checks a call's arguments against the function's
signature and gives its result the function's return type. Runs mypy on a small program with
the mistakes a user makes, and checks that exactly the lines marked ``# E:`` are refused."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

PROGRAM = """
from typing_extensions import assert_type

from worqr import AsyncCall, AsyncWorqr, Call, Functions, Worqr

functions = Functions()


@functions.function(queue="math")
def add(a: int, b: int = 1) -> int:
    return a + b


@functions.function(queue="mail")
async def send(to: str, subject: str) -> None: ...


def threaded(wq: Worqr) -> None:
    call = wq.call(add, 1, b=2)
    assert_type(call, Call[int])
    assert_type(call.result(timeout=1.0), int)
    assert_type(wq.call(add.with_options(key="k"), 1), Call[int])
    wq.call(add, "one")  # E: a str for an int
    wq.call(add)  # E: a missing argument
    wq.call(add, 1, c=3)  # E: an unknown keyword
    text: str = wq.call(add, 1).result()  # E: the result is an int


async def asynchronous(wq: AsyncWorqr) -> None:
    call = await wq.call(send, "a@example.com", "hi")
    assert_type(call, AsyncCall[None])
    assert_type(await call.result(), None)
    await wq.call(send, "a@example.com")  # E: a missing argument
"""


def test_mypy_checks_the_arguments_and_the_result_type_of_a_call(tmp_path: Path) -> None:
    program = tmp_path / "calls_program.py"
    program.write_text(PROGRAM, encoding="utf-8")
    out, err, status = api.run(["--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"), str(program)])
    assert status == 1, (out, err)
    refused = sorted({int(n) for n in re.findall(r"calls_program\.py:(\d+): error", out)})
    marked = [i for i, line in enumerate(PROGRAM.splitlines(), start=1) if "# E:" in line]
    assert refused == marked, out
