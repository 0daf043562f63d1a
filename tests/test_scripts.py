"""The Lua scripts: each header matches the Python description of its call."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from tests.protocol_helpers import all_calls
from worqr import errors
from worqr._protocol.scripts import script, script_names

CALLS = {call.script: call for call in all_calls("q", "w") if call.script}


def header(name: str) -> str:
    source = script(name).source
    return "\n".join(line for line in source.splitlines() if line.startswith("--"))


def test_every_script_is_used_and_every_used_script_exists() -> None:
    assert set(CALLS) == set(script_names())


@pytest.mark.parametrize("name", script_names())
def test_header_lists_keys_and_argv_matching_the_call(name: str) -> None:
    text = header(name)
    call = CALLS[name]
    keys = re.findall(r"^-- KEYS\[(\d+)(\.\.)?\]", text, re.MULTILINE)
    argv = re.findall(r"^-- ARGV\[(\d+)(\.\.)?\]", text, re.MULTILINE)
    fixed_keys = [int(n) for n, more in keys if not more]
    assert fixed_keys == list(range(1, len(fixed_keys) + 1))
    if any(more for _, more in keys):
        assert len(call.keys) >= len(fixed_keys)
    else:
        assert len(call.keys) == len(fixed_keys), (name, call.keys)
    fixed_argv = [int(n) for n, more in argv if not more]
    if any(more for _, more in argv):
        assert len(call.args) >= len(fixed_argv)
    else:
        assert len(call.args) == len(fixed_argv), (name, call.args)


@pytest.mark.parametrize("name", script_names())
def test_header_states_guarantee_and_reply(name: str) -> None:
    text = header(name)
    assert re.search(r"^-- \w+: ", text, re.MULTILINE), "first line: '<name>: <purpose>'"
    assert text.startswith(f"-- {name.rpartition('/')[2]}:")  # "calls/call" is call.lua of worqr.calls
    assert "Guarantees:" in text
    assert "Returns:" in text


@pytest.mark.parametrize("name", script_names())
def test_status_codes_in_headers_are_known(name: str) -> None:
    known = {v for k, v in vars(errors).items() if k.startswith("STATUS_")}
    for code in re.findall(r"\{(-\d+)\}", header(name)):
        assert int(code) in known


def test_includes_are_expanded() -> None:
    assert "-- @include" not in script("enqueue").source
    assert "local function call_chunked" in script("enqueue").source


@pytest.mark.parametrize("name", script_names())
def test_status_codes_in_headers_have_the_names_of_the_one_table(name: str) -> None:
    for code, spelled in re.findall(r"\{(-\d+)\}\s+(\w+)", header(name)):
        assert errors.STATUSES[int(code)][0] == spelled, (name, code, spelled)


def test_every_error_status_makes_its_error_and_an_unknown_one_a_command_error() -> None:
    assert isinstance(errors.status_error(errors.STATUS_WORKER_LOST, "gone"), errors.WorkerLostError)
    lost = errors.status_error(errors.STATUS_PROCESS_LOST, "gone", process_id="1:q")
    assert isinstance(lost, errors.ProcessLostError) and lost.process_id == "1:q"
    assert isinstance(errors.status_error(-99, "what"), errors.RedisCommandError)
    assert isinstance(errors.status_error(errors.STATUS_OK, "fine"), errors.RedisCommandError)


def test_the_scripts_that_end_a_process_share_one_fence() -> None:
    for name in ("finish", "finish_many", "stop", "fail"):
        assert "local function take_owned" in script(name).source, name
        assert 'redis.call("HGET", processes' not in _own_lines(name), name


def _own_lines(name: str) -> str:
    """The script's own source, without its includes."""
    return (files("worqr") / "lua" / f"{name}.lua").read_text(encoding="utf-8")
