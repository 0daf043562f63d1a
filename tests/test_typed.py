"""Typed values (worqr/_protocol/typed.py, JsonCodec(T)): JSON rebuilt from type annotations.

With pydantic (the ``typed`` extra): nested dataclasses, TypedDicts, enums, datetimes,
Optional, lists and dicts of them round-trip; equal values give equal bytes; a value that
does not fit is refused before anything is written, and bytes that do not fit raise
CodecError; unknown fields are refused, or dropped with ``ignore_unknown=True``. Without
pydantic, the hand-written engine keeps dataclasses, TypedDicts and plain JSON types
working. And a dead letter that no longer decodes is listed on its own, beside the others.

Tests that need pydantic ask for the ``needs_pydantic`` fixture, which skips them through
``pytest.importorskip("pydantic")`` where it is not installed. Tests run on both engines
take ``engine``: its ``builtin`` side hides pydantic (``sys.modules["pydantic"] = None``).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any, Optional
from zoneinfo import ZoneInfo

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typing_extensions import TypedDict

from tests.redis_helpers import snapshot
from worqr import (
    AsyncWorqr,
    BytesCodec,
    CodecError,
    DeadLetter,
    DuplicateTaskError,
    InvalidArgumentError,
    InvalidTaskTypeError,
    JsonCodec,
    Worqr,
)
from worqr._protocol.keys import QueueKeys
from worqr._protocol.typed import TypedValue

MakeWorqr = Callable[..., Worqr]
MakeAsyncWorqr = Callable[..., AsyncWorqr]


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    price: float


class Customer(TypedDict):
    name: str
    email: str | None


@dataclass(frozen=True)
class Order:
    id: int
    customer: Customer
    lines: list[Line]
    status: Status
    placed_at: datetime
    note: str | None = None
    discounts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ResizeV1:
    """A task as the old code knows it."""

    image: str
    width: int


@dataclass(frozen=True)
class ResizeV2:
    """The same task after a deploy added a field, with a default."""

    image: str
    width: int
    quality: int = 80


class Job(TypedDict):
    id: int
    kind: str


class LegacyJob(typing.TypedDict):
    """A ``typing.TypedDict``: pydantic refuses it before Python 3.12."""

    id: int


class NotJson:
    """A plain class: no engine can carry it."""


UTC_NOON = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)
ORDER = Order(
    7,
    {"name": "Ada", "email": None},
    [Line("tea", 2, 3.5), Line("jam", 1, 4.0)],
    Status.PAID,
    UTC_NOON,
    discounts={"b": 0.5, "a": 1.0},
)
ORDER_JSON = (
    b'{"customer":{"email":null,"name":"Ada"},"discounts":{"a":1.0,"b":0.5},"id":7,'
    b'"lines":[{"price":3.5,"quantity":2,"sku":"tea"},{"price":4.0,"quantity":1,"sku":"jam"}],'
    b'"note":null,"placed_at":"2024-05-01T12:30:00Z","status":"paid"}'
)


def broken(**changes: Any) -> Any:
    """ORDER with fields of the wrong type, as code that is not type-checked may build it."""
    replace: Any = dataclasses.replace
    return replace(ORDER, **changes)


@pytest.fixture
def needs_pydantic() -> ModuleType:
    """pydantic (the typed extra); the test is skipped where it is not installed."""
    module: ModuleType = pytest.importorskip("pydantic", reason="needs pydantic: pip install 'worqr[typed]'")
    return module


@pytest.fixture
def no_pydantic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """pydantic hidden, as if it were not installed (an import of it raises ImportError)."""
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "pydantic", None)
        yield


@pytest.fixture(params=["builtin", "pydantic"])
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each engine in turn: pydantic's side is skipped where pydantic is not installed."""
    if request.param == "pydantic":
        pytest.importorskip("pydantic", reason="needs pydantic: pip install 'worqr[typed]'")
        yield "pydantic"
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "pydantic", None)
        yield "builtin"


# Round trips (pydantic) ----------------------------------------------------------------------


def test_nested_dataclasses_typeddicts_enums_and_datetimes_round_trip(needs_pydantic: ModuleType) -> None:
    orders = TypedValue(Order)
    assert orders.engine == "pydantic"
    assert orders.to_json(ORDER) == ORDER_JSON  # keys sorted at every level, compact, UTC as Z
    back = orders.from_json(ORDER_JSON)
    assert back == ORDER
    assert isinstance(back.lines[0], Line)
    assert back.status is Status.PAID
    assert back.placed_at == UTC_NOON and back.placed_at.utcoffset() == timedelta(0)
    assert orders.dump(ORDER) == json.loads(ORDER_JSON)
    assert orders.load(json.loads(ORDER_JSON)) == ORDER


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (Optional[Order], ORDER),  # noqa: UP045 (typing.Optional itself is what is tested)
        (Optional[Order], None),  # noqa: UP045
        (Order | None, None),
        (list[Order], [ORDER, dataclasses.replace(ORDER, id=8, note="gift")]),
        (dict[str, Order], {"b": ORDER, "a": dataclasses.replace(ORDER, status=Status.NEW)}),
        (dict[str, list[Line]], {"x": [Line("a", 1, 1.0)], "y": []}),
        (tuple[int, str], (1, "a")),
        (list[Status], [Status.NEW, Status.PAID]),
        (int, 42),
        (float, 2.5),
        (str, "héllo"),
        (bool, True),
        (type(None), None),
        (list[int], [1, 2, 3]),
        (dict[int, str], {2: "b", 1: "a"}),
    ],
    ids=repr,
)
def test_annotations_of_models_round_trip(needs_pydantic: ModuleType, annotation: Any, value: object) -> None:
    typed: TypedValue[Any] = TypedValue(annotation)
    payload = typed.to_json(value)
    assert typed.from_json(payload) == value
    assert typed.to_json(typed.from_json(payload)) == payload  # what is read back writes the same bytes
    assert json.dumps(json.loads(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == (
        payload
    )


def test_aware_datetimes_come_back_equal_and_naive_ones_stay_naive(needs_pydantic: ModuleType) -> None:
    at: TypedValue[datetime] = TypedValue(datetime)
    paris = datetime(2024, 7, 14, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert at.to_json(paris) == b'"2024-07-14T09:00:00+02:00"'  # the offset as written
    back = at.from_json(at.to_json(paris))
    assert back == paris and back.utcoffset() == timedelta(hours=2)
    # The same instant in another offset is an equal datetime but another payload: use UTC
    # for tasks marked unique (documented in typed.py and docs/model.md).
    assert paris.astimezone(timezone.utc) == paris
    assert at.to_json(paris.astimezone(timezone.utc)) == b'"2024-07-14T07:00:00Z"'
    naive = datetime(2024, 7, 14, 9, 0)
    assert at.to_json(naive) == b'"2024-07-14T09:00:00"'  # no offset invented
    naive_back = at.from_json(at.to_json(naive))
    assert naive_back == naive and naive_back.tzinfo is None
    aware_only: TypedValue[Any] = TypedValue(needs_pydantic.AwareDatetime)
    with pytest.raises(InvalidTaskTypeError, match="timezone"):
        aware_only.to_json(naive)
    with pytest.raises(CodecError, match="timezone"):
        aware_only.from_json(b'"2024-07-14T09:00:00"')
    assert aware_only.from_json(b'"2024-07-14T09:00:00+02:00"') == paris


def test_equal_values_give_equal_bytes(needs_pydantic: ModuleType) -> None:
    orders = TypedValue(Order)
    reordered = Order(
        7,
        {"email": None, "name": "Ada"},  # the same dict, keys in another order
        [Line("tea", 2, 3.5), Line("jam", 1, 4.0)],
        Status.PAID,
        datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc),
        discounts={"a": 1.0, "b": 0.5},
    )
    assert reordered == ORDER
    assert orders.to_json(reordered) == orders.to_json(ORDER) == ORDER_JSON
    assert b" " not in ORDER_JSON


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.builds(
            Line,
            st.text(max_size=6),
            st.integers(-(2**70), 2**70),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        max_size=4,
    )
)
def test_any_list_of_lines_is_a_canonical_fixed_point(engine: str, lines: list[Line]) -> None:
    typed = TypedValue(list[Line]) if engine == "pydantic" else None
    codec = JsonCodec(Line)
    for line in lines:
        payload = codec.encode(line)
        assert codec.decode(payload) == line
        assert codec.encode(codec.decode(payload)) == payload
    if typed is not None:
        assert typed.from_json(typed.to_json(lines)) == lines


# Refusals (pydantic) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "value", "why"),
    [
        (Order, broken(status="paid"), r"status: Input should be an instance of Status"),
        (Order, broken(placed_at="2024-05-01"), r"placed_at: Input should be a valid datetime"),
        (Order, broken(lines=[{"sku": "tea"}]), r"lines\[0\]: Input should be an instance of Line"),
        (Order, broken(id="7"), r"id: Input should be a valid integer"),
        (Order, broken(customer={"name": "Ada"}), r"customer.email: Field required"),
        (Order, broken(customer={"name": "Ada", "email": None, "vip": True}), r"customer.vip: unknown"),
        (Order, {"id": 7}, r"Input should be an instance of Order"),
        (list[Line], [Line("a", 1, float("nan"))], r"\[0\].price: Input should be a finite number"),
        (list[Line], [Line("a", True, 1.0)], r"\[0\].quantity: Input should be a valid integer"),
        (Job, {"id": 1}, r"kind: Field required"),
        (Job, {"id": 1, "kind": "x", "extra": 2}, r"extra: unknown field"),
        (Job, 42, r"Input should be a valid dictionary"),
        (list[int], (1, 2), r"Input should be a valid list"),
        (dict[str, int], {"n": 10**5000}, r"integer of more than 4300 digits"),
        (list[Any], [float("inf")], r"Out of range float values are not JSON compliant"),
        (str, "\ud800", r"surrogates not allowed"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_value_that_does_not_fit_is_refused_saying_what_was_wrong(
    needs_pydantic: ModuleType, annotation: Any, value: object, why: str
) -> None:
    typed: TypedValue[Any] = TypedValue(annotation)
    with pytest.raises(InvalidTaskTypeError, match=why):
        typed.to_json(value)
    with pytest.raises(InvalidTaskTypeError, match=why):
        typed.dump(value)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not json", r"is not JSON: Invalid JSON"),
        (b"\xff", r"is not JSON"),
        (b"[1, 2]", r"does not fit Order: Input should be an object"),
        (ORDER_JSON.replace(b'"paid"', b'"lost"'), r"status: Input should be 'new' or 'paid'"),
        (ORDER_JSON.replace(b'"id":7', b'"id":"7"'), r"id: Input should be a valid integer"),
        (ORDER_JSON.replace(b"3.5", b"NaN"), r"lines\[0\].price: Input should be a finite number"),
        (ORDER_JSON.replace(b'"2024-05-01T12:30:00Z"', b'"noon"'), r"placed_at: Input should be a valid datetime"),
        (ORDER_JSON.replace(b'"email":null,', b""), r"customer.email: Field required"),
    ],
    ids=["not-json", "not-utf8", "array", "enum", "int-as-string", "nan", "datetime", "missing"],
)
def test_bytes_that_do_not_fit_raise_codec_error(needs_pydantic: ModuleType, payload: bytes, why: str) -> None:
    with pytest.raises(CodecError, match=why) as caught:
        TypedValue(Order).from_json(payload)
    assert caught.value.payload == payload
    with pytest.raises(CodecError, match=why):
        JsonCodec(Order).decode(payload)


def test_load_refuses_an_object_that_is_not_json(needs_pydantic: ModuleType) -> None:
    with pytest.raises(CodecError, match="is not a JSON value"):
        TypedValue(list[int]).load({1, 2})


def test_an_annotation_pydantic_cannot_carry_is_refused_when_the_codec_is_built(needs_pydantic: ModuleType) -> None:
    for annotation in (NotJson, list[NotJson], Optional[NotJson]):  # noqa: UP045
        with pytest.raises(InvalidTaskTypeError, match=r"pydantic cannot carry .*NotJson"):
            TypedValue(annotation)
        with pytest.raises(InvalidTaskTypeError, match="dataclass or a TypedDict"):
            JsonCodec(annotation)


def test_a_typing_typeddict_pydantic_refuses_still_works_through_the_builtin_engine(needs_pydantic: ModuleType) -> None:
    legacy = TypedValue(LegacyJob)
    assert legacy.engine == ("builtin" if sys.version_info < (3, 12) else "pydantic")
    assert legacy.from_json(legacy.to_json({"id": 1})) == {"id": 1}


def test_both_engines_write_the_same_bytes(needs_pydantic: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rolling deploy may mix machines with and without pydantic: they must agree."""
    values: list[tuple[Any, object]] = [
        (ResizeV2, ResizeV2("cat.png", 640, 90)),
        (Job, {"kind": "email", "id": 3}),
        (Line, Line("é", 2, 1.0)),
        (int, 5),
        (float, 2),
        (str, "x"),
        (list, [3, {"b": 1, "a": None}]),
        (dict, {"z": [1.5], "a": True}),
    ]
    with_pydantic = [TypedValue(t).to_json(v) for t, v in values]
    assert {TypedValue(t).engine for t, _ in values} == {"pydantic"}
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "pydantic", None)
        assert {TypedValue(t).engine for t, _ in values} == {"builtin"}
        assert [TypedValue(t).to_json(v) for t, v in values] == with_pydantic
    assert with_pydantic[4] == b"2.0"  # an int given for a float is written as a float by both


# Unknown fields and rolling deploys (both engines) --------------------------------------------


def test_unknown_fields_are_refused_by_default_and_dropped_with_ignore_unknown(engine: str) -> None:
    payload = JsonCodec(ResizeV2).encode(ResizeV2("cat.png", 640, 90))
    old = JsonCodec(ResizeV1)
    assert old.typed is not None and old.typed.engine == engine
    with pytest.raises(CodecError, match="quality") as caught:
        old.decode(payload)
    assert "ignore_unknown=True" in str(caught.value)
    tolerant = JsonCodec(ResizeV1, ignore_unknown=True)
    assert tolerant.decode(payload) == ResizeV1("cat.png", 640)
    assert JsonCodec(ResizeV2).decode(JsonCodec(ResizeV1).encode(ResizeV1("dog.png", 320))) == ResizeV2("dog.png", 320)
    jobs = JsonCodec(Job)
    with pytest.raises(CodecError, match="note"):
        jobs.decode(b'{"id":1,"kind":"sms","note":"new"}')
    assert JsonCodec(Job, ignore_unknown=True).decode(b'{"id":1,"kind":"sms","note":"new"}') == {"id": 1, "kind": "sms"}
    with pytest.raises(InvalidTaskTypeError, match="note"):  # encoding never writes unknown keys
        JsonCodec(Job, ignore_unknown=True).encode({"id": 1, "kind": "sms", "note": "new"})  # type: ignore[typeddict-unknown-key]


def test_ignore_unknown_reaches_nested_models(needs_pydantic: ModuleType) -> None:
    payload = ORDER_JSON.replace(b'"sku":"tea"', b'"sku":"tea","origin":"LK"').replace(
        b'"name":"Ada"', b'"name":"Ada","vip":1'
    )
    with pytest.raises(CodecError, match=r"customer.vip: unknown field.*lines\[0\].origin: unknown field"):
        JsonCodec(Order).decode(payload)
    assert JsonCodec(Order, ignore_unknown=True).decode(payload) == ORDER


def test_ignore_unknown_must_be_a_bool() -> None:
    makers: list[Callable[[], object]] = [
        lambda: JsonCodec(ResizeV1, ignore_unknown=1),  # type: ignore[call-overload]
        lambda: TypedValue(int, ignore_unknown="yes"),  # type: ignore[call-overload]
    ]
    for make in makers:
        with pytest.raises(InvalidArgumentError, match="ignore_unknown must be True or False"):
            make()


def test_a_rolling_deploy_that_adds_a_field_keeps_every_task(make_worqr: MakeWorqr, engine: str) -> None:
    old_worker, new_producer = make_worqr(), make_worqr()
    old_worker.start_worker()
    old_worker.start_work("resizes")
    readers = old_worker.queue("resizes", JsonCodec(ResizeV1, ignore_unknown=True))
    new_producer.queue("resizes", JsonCodec(ResizeV2)).enqueue_many([ResizeV2("a.png", 10, 50), ResizeV2("b.png", 20)])
    taken = [readers.dequeue() for _ in range(2)]
    assert [p.task for p in taken if p is not None] == [ResizeV1("a.png", 10), ResizeV1("b.png", 20)]


# Without pydantic ----------------------------------------------------------------------------


def test_without_pydantic_dataclasses_typeddicts_and_plain_types_still_work(no_pydantic: None) -> None:
    resize = TypedValue(ResizeV2)
    assert resize.engine == "builtin"
    assert resize.to_json(ResizeV2("cat.png", 640)) == b'{"image":"cat.png","quality":80,"width":640}'
    assert resize.from_json(b'{"image":"cat.png","width":640}') == ResizeV2("cat.png", 640)
    assert TypedValue(Job).from_json(b'{"id":1,"kind":"x"}') == {"id": 1, "kind": "x"}
    for annotation, value in [(int, 3), (float, 1.5), (str, "s"), (bool, False), (None, None), (list, [1]), (dict, {})]:
        typed: TypedValue[Any] = TypedValue(annotation)
        assert typed.engine == "builtin"
        assert typed.from_json(typed.to_json(value)) == value
        assert typed.load(typed.dump(value)) == value
    assert JsonCodec().decode(JsonCodec().encode({"a": [1]})) == {"a": [1]}


@pytest.mark.parametrize(
    ("annotation", "value", "payload"),
    [
        (int, True, b"true"),
        (int, 1.5, b"1.5"),
        (bool, 1, b"1"),
        (float, "1", b'"1"'),
        (str, 1, b"1"),
        (type(None), 0, b"0"),
        (list, (1,), b'{"a":1}'),
        (dict, [], b"[]"),
    ],
    ids=repr,
)
def test_without_pydantic_plain_types_refuse_other_values(
    no_pydantic: None, annotation: Any, value: object, payload: bytes
) -> None:
    typed: TypedValue[Any] = TypedValue(annotation)
    with pytest.raises(InvalidTaskTypeError, match="expected"):
        typed.to_json(value)
    with pytest.raises(CodecError, match="does not fit"):
        typed.from_json(payload)


def test_without_pydantic_other_annotations_are_refused_naming_the_extra(no_pydantic: None) -> None:
    for annotation in (list[int], Optional[ResizeV1], Status, datetime, NotJson):  # noqa: UP045
        with pytest.raises(InvalidTaskTypeError, match=r"pip install 'worqr\[typed\]'"):
            TypedValue(annotation)
        with pytest.raises(InvalidTaskTypeError, match="dataclass or a TypedDict"):
            JsonCodec(annotation)


def test_importing_worqr_does_not_import_pydantic() -> None:
    code = "import sys, worqr; from worqr._protocol import typed; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# Through a real server ------------------------------------------------------------------------


def test_a_typed_view_round_trips_and_matches_equal_values(make_worqr: MakeWorqr, needs_pydantic: ModuleType) -> None:
    wq = make_worqr()
    wq.start_worker()
    wq.start_work("orders")
    orders = wq.queue("orders", JsonCodec(Order))
    assert orders.enqueue(ORDER, unique=True) == 1
    with pytest.raises(DuplicateTaskError):
        orders.enqueue(dataclasses.replace(ORDER, customer={"email": None, "name": "Ada"}), unique=True)
    assert orders.tasks() == [ORDER]
    process = orders.dequeue()
    assert process is not None and process.task == ORDER and process.task.status is Status.PAID
    wq.finish_process(process.id)
    many = wq.queue("many", JsonCodec(list[Order]))
    many.enqueue([ORDER, ORDER])  # a list is one task on a JSON view
    assert many.peek() == [ORDER, ORDER]
    assert many.cancel([ORDER, ORDER]) == 1


def test_enqueue_refuses_a_value_that_does_not_fit_before_anything_is_written(
    make_worqr: MakeWorqr, raw: redis.Redis, needs_pydantic: ModuleType
) -> None:
    wq = make_worqr()
    orders = wq.queue("orders", JsonCodec(Order))
    wrong = broken(status="paid")
    with pytest.raises(InvalidTaskTypeError, match="status: Input should be an instance of Status"):
        orders.enqueue(wrong)
    with pytest.raises(InvalidTaskTypeError, match="status"):
        orders.enqueue_many([ORDER, wrong])  # the good one is not written either
    with pytest.raises(InvalidTaskTypeError, match="placed_at"):
        orders.enqueue(broken(placed_at="tomorrow"), delay=5)
    assert orders.count() == orders.count_delayed() == 0
    assert wq.get_queues() == []
    assert snapshot(raw, wq.prefix) == {}


def test_a_view_with_ignore_unknown_reads_what_the_default_refuses(
    make_worqr: MakeWorqr, raw: redis.Redis, engine: str
) -> None:
    wq = make_worqr()
    raw.rpush(QueueKeys(wq.prefix, "resizes").pending, b'{"image":"a.png","quality":50,"width":10}')
    with pytest.raises(CodecError, match="quality"):
        wq.queue("resizes", JsonCodec(ResizeV1)).peek()
    assert wq.queue("resizes", JsonCodec(ResizeV1, ignore_unknown=True)).peek() == ResizeV1("a.png", 10)


# Dead letters that no longer decode -----------------------------------------------------------


def _fail_for_good(client: Worqr, queue: str, payload: bytes) -> str:
    client.queue(queue, BytesCodec()).enqueue(payload)
    process = client.queue(queue, BytesCodec()).dequeue()
    assert process is not None
    failure = client.fail_process(process.id, "boom", max_attempts=1)
    assert failure.dead_letter_id is not None
    return failure.dead_letter_id


def _check_letters(letters: list[DeadLetter[ResizeV1]], ids: list[str], new_payload: bytes) -> None:
    assert [d.id for d in letters] == ids  # all three, in their order
    first, bad, last = letters
    assert (first.task, last.task) == (ResizeV1("a.png", 1), ResizeV1("c.png", 3))
    assert first.decode_error is None and last.decode_error is None
    assert first.payload == b'{"image":"a.png","width":1}'
    assert bad.payload == new_payload
    assert isinstance(bad.decode_error, CodecError)
    assert bad.decode_error.payload == new_payload
    assert f"dead letter {ids[1]}" in str(bad.decode_error) and "quality" in str(bad.decode_error)
    for _ in range(2):  # every read raises the same error, with a fresh traceback
        with pytest.raises(CodecError, match="quality") as caught:
            _ = bad.task
        assert caught.value is bad.decode_error
    assert (bad.error, bad.attempts, bad.queue) == ("boom", 1, "resizes")
    assert "decode_error=" in repr(bad) and "task=" not in repr(bad)
    assert bad != first


def test_a_dead_letter_that_no_longer_decodes_is_listed_on_its_own(make_worqr: MakeWorqr, engine: str) -> None:
    wq = make_worqr()
    wq.start_worker()
    wq.start_work("resizes")
    new_payload = JsonCodec(ResizeV2).encode(ResizeV2("b.png", 2, 70))
    ids = [
        _fail_for_good(wq, "resizes", b'{"image":"a.png","width":1}'),
        _fail_for_good(wq, "resizes", new_payload),
        _fail_for_good(wq, "resizes", b'{"image":"c.png","width":3}'),
    ]
    view = wq.queue("resizes", JsonCodec(ResizeV1))
    _check_letters(view.dead_letters(), ids, new_payload)
    # With ignore_unknown the same letter decodes; as text or bytes, every letter does.
    assert [d.task for d in wq.queue("resizes", JsonCodec(ResizeV1, ignore_unknown=True)).dead_letters()] == [
        ResizeV1("a.png", 1),
        ResizeV1("b.png", 2),
        ResizeV1("c.png", 3),
    ]
    assert [d.task for d in wq.get_dead_letters("resizes")] == [d.payload.decode() for d in view.dead_letters()]
    assert view.requeue_dead_letters(ids[1]) == 1
    assert wq.queue("resizes", BytesCodec()).tasks() == [new_payload]
    assert [d.id for d in view.dead_letters()] == [ids[0], ids[2]]


async def test_an_async_view_lists_an_undecodable_dead_letter_on_its_own(
    make_async_worqr: MakeAsyncWorqr, engine: str
) -> None:
    wq = make_async_worqr()
    await wq.start_worker()
    await wq.start_work("resizes")
    blobs = wq.queue("resizes", BytesCodec())
    new_payload = JsonCodec(ResizeV2).encode(ResizeV2("b.png", 2, 70))
    ids = []
    for payload in (b'{"image":"a.png","width":1}', new_payload, b'{"image":"c.png","width":3}'):
        await blobs.enqueue(payload)
        process = await blobs.dequeue()
        assert process is not None
        failure = await wq.fail_process(process.id, "boom", max_attempts=1)
        assert failure.dead_letter_id is not None
        ids.append(failure.dead_letter_id)
    view = wq.queue("resizes", JsonCodec(ResizeV1))
    _check_letters(await view.dead_letters(), ids, new_payload)
    assert await view.purge_dead_letters(ids[1]) == 1
    assert [d.task for d in await view.dead_letters()] == [ResizeV1("a.png", 1), ResizeV1("c.png", 3)]


def test_untyped_dead_letters_list_a_payload_that_is_not_text_on_its_own(make_worqr: MakeWorqr) -> None:
    wq = make_worqr()
    wq.start_worker()
    wq.start_work("jobs")
    ids = [_fail_for_good(wq, "jobs", p) for p in (b"pay 12", b"\xff\xfe", "été".encode())]
    letters = wq.get_dead_letters("jobs")
    assert [d.id for d in letters] == ids
    assert (letters[0].task, letters[2].task) == ("pay 12", "été")  # text as before
    assert letters[1].payload == b"\xff\xfe"
    with pytest.raises(CodecError, match="not UTF-8"):
        _ = letters[1].task
    assert [d.task for d in wq.queue("jobs", BytesCodec()).dead_letters()] == [b"pay 12", b"\xff\xfe", "été".encode()]


def test_a_dead_letter_built_by_hand_compares_by_its_task() -> None:
    at = datetime(2024, 1, 1, tzinfo=timezone.utc)
    letter = DeadLetter("1", "jobs", "t", "Error", "boom", 1, at, "w", payload=b"t")
    assert letter == DeadLetter(
        id="1", queue="jobs", task="t", error_type="Error", error="boom", attempts=1, failed_at=at, worker_id="w"
    )
    assert letter.decode_error is None and letter.task == "t"
    match letter:
        case DeadLetter(dead_id, queue, task):
            assert (dead_id, queue, task) == ("1", "jobs", "t")
