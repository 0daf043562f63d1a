"""Encrypted payloads (`worqr.crypto.AeadCodec`), against a real server: round trips through
sync and async views of every inner codec; what Redis holds is ciphertext bound to its prefix
and queue; keys rotate by id; deterministic mode keeps unique tasks and cancel working while
random mode refuses them before anything is written; bad keys are refused when the codec is
built and never shown; a changed byte is a CodecError, and a runtime worker dead-letters that
task and goes on with the others."""

from __future__ import annotations

import ast
import base64
import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict, cast

import pytest
import redis

import worqr
from tests.helpers import wait_until
from tests.redis_helpers import snapshot
from tests.runtime_helpers import FAST, QUICK, settled, started
from worqr import (
    AsyncWorqr,
    BytesCodec,
    Codec,
    CodecError,
    DuplicateTaskError,
    Event,
    InvalidArgumentError,
    InvalidTaskTypeError,
    JsonCodec,
    PayloadTooLargeError,
    Process,
    StrCodec,
    Worker,
    Worqr,
)
from worqr._protocol import flows
from worqr._protocol.keys import QueueKeys
from worqr.crypto import AeadCodec

MakeWorqr = Callable[..., Worqr]
MakeAsyncWorqr = Callable[..., AsyncWorqr]

K1 = os.urandom(32)
K2 = os.urandom(32)
S1 = os.urandom(64)
S2 = os.urandom(64)
#: A marker in the plaintexts, looked for in everything Redis holds and every event.
MARKER = "the-plaintext-marker-4711"


@dataclasses.dataclass(frozen=True)
class Payment:
    account: str
    cents: int


class Note(TypedDict):
    text: str


def random_codec(inner: Codec[Any] | None = None, **keys: bytes) -> AeadCodec[Any]:
    ring = keys or {"k1": K1}
    return AeadCodec(inner or JsonCodec(), keys=ring, primary=next(iter(ring)))


def deterministic_codec(inner: Codec[Any] | None = None) -> AeadCodec[Any]:
    return AeadCodec(inner or JsonCodec(), keys={"s1": S1}, primary="s1", mode="deterministic")


@pytest.fixture
def wq(make_worqr: MakeWorqr) -> Worqr:
    client = make_worqr(**FAST)
    client.start_worker()
    return client


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def stopping() -> Iterator[list[Worker[Any]]]:
    workers: list[Worker[Any]] = []
    yield workers
    for worker in workers:
        worker.stop(grace=0)


def pending(raw: redis.Redis, client: Worqr | AsyncWorqr, queue: str) -> list[bytes]:
    return cast("list[bytes]", raw.lrange(QueueKeys(client.prefix, queue).pending, 0, -1))


def stored_values(raw: redis.Redis, prefix: str) -> list[bytes]:
    """Every value (and member, field, key name) stored under ``prefix``, read plainly: DUMP
    could compress a plaintext out of sight."""
    values: list[bytes] = []
    for key in snapshot(raw, prefix):
        values.append(key)
        kind = raw.type(key)
        if kind == b"string":
            values.append(cast("bytes", raw.get(key)))
        elif kind == b"list":
            values.extend(cast("list[bytes]", raw.lrange(key, 0, -1)))
        elif kind == b"hash":
            for field, value in cast("dict[bytes, bytes]", raw.hgetall(key)).items():
                values += [field, value]
        elif kind == b"set":
            values.extend(cast("set[bytes]", raw.smembers(key)))
        elif kind == b"zset":
            values.extend(cast("list[bytes]", raw.zrange(key, 0, -1)))
    return values


def flipped(payload: bytes, index: int, mask: int = 0x01) -> bytes:
    return payload[:index] + bytes([payload[index] ^ mask]) + payload[index + 1 :]


def shows_a_key(text: str) -> bool:
    """True if ``text`` shows any of the test keys, as bytes, hex or base64."""
    forms = [repr(k) for k in (K1, K2, S1, S2)]
    forms += [k.hex() for k in (K1, K2, S1, S2)]
    forms += [base64.b64encode(k).decode() for k in (K1, K2, S1, S2)]
    return any(form in text for form in forms)


# The optional dependency ----------------------------------------------------------------------


def test_importing_worqr_does_not_import_cryptography() -> None:
    """No module of the package but worqr.crypto imports cryptography (redis-py itself looks
    whether the top-level package is there: that is not ours), and ``import worqr`` loads
    neither worqr.crypto nor any cipher."""
    package = Path(worqr.__file__).parent
    importers = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "cryptography" or n == "worqr.crypto" for n in names):
                importers.append(path.relative_to(package).as_posix())
    assert sorted(set(importers)) == ["crypto.py"]
    code = (
        "import sys, worqr\n"
        "loaded = sorted(m for m in sys.modules if m == 'worqr.crypto' or m.startswith('cryptography.hazmat'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_importing_worqr_crypto_without_cryptography_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['cryptography'] = None  # as if it were not installed\n"
        "import worqr\n"
        "try:\n"
        "    import worqr.crypto\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    raise SystemExit('imported')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, timeout=60, capture_output=True, text=True)
    assert "pip install 'worqr[crypto]'" in done.stdout
    assert "cryptography" in done.stdout


# Building the codec: keys, ids, modes ---------------------------------------------------------


BAD_CODECS: list[tuple[Callable[[], object], str]] = [
    (
        lambda: AeadCodec(JsonCodec(), keys={"k1": os.urandom(16)}),
        "is 16 bytes; mode='random' (AES-256-GCM) takes keys of exactly 32",
    ),
    (lambda: AeadCodec(JsonCodec(), keys={"k1": os.urandom(64)}), "is 64 bytes; mode='random'"),
    (
        lambda: AeadCodec(JsonCodec(), keys={"k1": K1}, mode="deterministic"),
        "mode='deterministic' (AES-SIV-512) takes keys of exactly 64",
    ),
    (lambda: AeadCodec(JsonCodec(), keys={"s1": os.urandom(48)}, mode="deterministic"), "is 48 bytes"),
    (lambda: AeadCodec(JsonCodec(), keys={"k1": K1.hex()}), "is a str; a key is 32 random bytes"),  # type: ignore[dict-item]
    (lambda: AeadCodec(JsonCodec(), keys={"k1": 12345}), "must be bytes"),  # type: ignore[dict-item]
    (lambda: AeadCodec(JsonCodec(), keys={"k1": None}), "must be bytes"),  # type: ignore[dict-item]
    (lambda: AeadCodec(JsonCodec(), keys={"k1": bytes(32)}), "one byte repeated 32 times"),
    (lambda: AeadCodec(JsonCodec(), keys={}), "at least one key, got an empty mapping"),
    (lambda: AeadCodec(JsonCodec(), keys=[("k1", K1)]), "keys must map key ids to keys"),  # type: ignore[arg-type]
    (
        lambda: AeadCodec(JsonCodec(), keys={"k1": K1, "k2": K2}),
        "name the key that encrypts: primary= one of ['k1', 'k2']",
    ),
    (
        lambda: AeadCodec(JsonCodec(), keys={"k1": K1, "k2": K2}, primary="k3"),
        "primary 'k3' is not one of the keys ['k1', 'k2']",
    ),
    (lambda: AeadCodec(JsonCodec(), keys={"k1": K1}, primary=""), "primary must be a non-empty str"),
    (lambda: AeadCodec(JsonCodec(), keys={"": K1}), "a key id must be a non-empty str"),
    (lambda: AeadCodec(JsonCodec(), keys={1: K1}), "a key id must be a non-empty str"),  # type: ignore[dict-item]
    (lambda: AeadCodec(JsonCodec(), keys={"k\n1": K1}), "holds a control character"),
    (lambda: AeadCodec(JsonCodec(), keys={"k" * 256: K1}), "is 256 bytes in UTF-8; the limit is 255"),
    (lambda: AeadCodec(JsonCodec(), keys={"k1": K1}, mode="siv"), "mode must be 'random' or 'deterministic'"),  # type: ignore[arg-type]
    (lambda: AeadCodec("json", keys={"k1": K1}), "inner must be a codec"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("build", "message"), BAD_CODECS, ids=[m[:40] for _, m in BAD_CODECS])
def test_bad_keys_ids_and_modes_are_refused_when_the_codec_is_built(build: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        build()
    assert message in str(caught.value)
    assert not shows_a_key(str(caught.value))


def test_keys_of_the_right_size_are_accepted_and_never_shown() -> None:
    one = AeadCodec(StrCodec(), keys={"only": K1})  # one key: it is the primary
    assert one.primary == "only"
    assert AeadCodec(BytesCodec(), keys={"k1": bytearray(K1)}).key_ids == ["k1"]
    codec = AeadCodec(JsonCodec(Payment), keys={"k2": K2, "k1": K1}, primary="k2")
    bound = codec.bind("app", "payments")
    siv = AeadCodec(JsonCodec(), keys={"s1": S1, "s2": S2}, primary="s1", mode="deterministic")
    for shown in (codec, bound, siv, siv.bind("app", "q")):
        text = repr(shown)
        assert not shows_a_key(text), text
        assert not hasattr(shown, "__dict__")  # no attribute holds a key: the ciphers keep them
    assert repr(bound) == (
        "AeadCodec(JsonCodec(Payment), mode='random', keys=['k1', 'k2'], primary='k2', "
        "bound to queue 'payments' of prefix 'app')"
    )
    assert "unbound" in repr(codec)


def test_an_unbound_codec_refuses_to_encode_or_decode() -> None:
    codec = random_codec()
    assert not codec.bound
    payload = codec.bind("p", "q").encode({"a": 1})
    with pytest.raises(InvalidArgumentError, match=r"before it is bound to a queue.*client\.queue\(name, codec\)"):
        codec.encode({"a": 1})
    with pytest.raises(InvalidArgumentError, match="before it is bound to a queue"):
        codec.decode(payload)
    with pytest.raises(InvalidArgumentError, match="bind\\(\\) takes the queue as a non-empty str"):
        codec.bind("p", "")


def test_views_bind_the_codec_to_their_prefix_and_queue(wq: Worqr) -> None:
    codec = random_codec()
    a, b = wq.queue("a", codec), wq.queue("b", codec)
    assert isinstance(a.codec, AeadCodec) and isinstance(b.codec, AeadCodec)
    assert (a.codec.prefix, a.codec.queue) == (wq.prefix, "a")
    assert (b.codec.prefix, b.codec.queue) == (wq.prefix, "b")
    assert not codec.bound  # binding makes a new codec; the one given stays as it was
    a.enqueue({"n": 1})
    assert a.tasks() == [{"n": 1}]
    rebound = wq.queue("b", a.codec)  # a codec bound elsewhere is bound again to its new view
    assert isinstance(rebound.codec, AeadCodec) and rebound.codec.queue == "b"


def test_the_hooks_are_generic_a_codec_of_ones_own_can_bind_and_refuse_matching(wq: Worqr) -> None:
    """Views call any codec's ``bind(prefix, queue)``, and the payload-matching operations
    refuse any codec whose ``unmatchable`` gives a reason (worqr.calls relies on both)."""

    class Salted(StrCodec):
        unmatchable = "it salts every payload"

        def __init__(self, where: str = "") -> None:
            self.where = where

        def bind(self, prefix: str, queue: str) -> Salted:
            return Salted(f"{prefix}/{queue}")

    view = wq.queue("q", Salted())
    assert cast("Salted", view.codec).where == f"{wq.prefix}/q"
    with pytest.raises(InvalidArgumentError, match="it salts every payload"):
        view.enqueue("x", unique=True)


# The wire format -------------------------------------------------------------------------------


def test_the_wire_format_is_a_small_versioned_header_and_the_sealed_task() -> None:
    plaintext = b'{"a":1}'
    gcm = AeadCodec(BytesCodec(), keys={"key-7": K1}).bind("p", "q")
    payload = gcm.encode(plaintext)
    assert payload[:3] == bytes([0x01, 0x01, 5]) and payload[3:8] == b"key-7"
    assert len(payload) == 3 + 5 + 12 + len(plaintext) + 16  # header, nonce, ciphertext, tag
    assert gcm.encode(plaintext)[8:20] != payload[8:20]  # a fresh nonce every time
    siv = AeadCodec(BytesCodec(), keys={"s": S1}, mode="deterministic").bind("p", "q")
    sealed = siv.encode(plaintext)
    assert sealed[:4] == bytes([0x01, 0x02, 1]) + b"s"
    assert len(sealed) == 3 + 1 + 16 + len(plaintext)  # header, SIV, ciphertext
    assert AeadCodec.key_id_of(payload) == "key-7" and AeadCodec.key_id_of(sealed) == "s"
    with pytest.raises(CodecError, match="not an AeadCodec payload"):
        AeadCodec.key_id_of(plaintext)


def test_random_mode_encrypts_equal_tasks_differently_and_deterministic_mode_equally() -> None:
    gcm = random_codec().bind("p", "q")
    assert gcm.encode({"a": 1}) != gcm.encode({"a": 1})
    siv = deterministic_codec().bind("p", "q")
    assert siv.encode({"a": 1}) == siv.encode({"a": 1})
    assert siv.encode({"a": 1}) != siv.encode({"a": 2})
    # ... but only under one key and one queue: the context and the key are in the bytes
    assert deterministic_codec().bind("p", "other").encode({"a": 1}) != siv.encode({"a": 1})
    other_key = AeadCodec(JsonCodec(), keys={"s1": S2}, mode="deterministic").bind("p", "q")
    assert other_key.encode({"a": 1}) != siv.encode({"a": 1})


@pytest.mark.parametrize(
    "codec", [random_codec(StrCodec()), deterministic_codec(StrCodec())], ids=["random", "deterministic"]
)
def test_any_changed_byte_or_length_fails_decode_with_a_codec_error(codec: AeadCodec[str]) -> None:
    bound = codec.bind("p", "q")
    payload = bound.encode("pay 10 to alice")
    assert bound.decode(payload) == "pay 10 to alice"
    for index in range(len(payload)):
        for mask in (0x01, 0x80, 0xFF):
            with pytest.raises(CodecError) as caught:
                bound.decode(flipped(payload, index, mask))
            assert caught.value.payload == flipped(payload, index, mask)
    for cut in range(len(payload)):
        with pytest.raises(CodecError):
            bound.decode(payload[:cut])
    with pytest.raises(CodecError, match="does not authenticate"):
        bound.decode(payload + b"\x00")


def test_relabelling_a_payload_with_another_key_id_fails() -> None:
    codec = AeadCodec(StrCodec(), keys={"k1": K1, "k2": K2}, primary="k1").bind("p", "q")
    payload = codec.encode("x")
    relabelled = payload[:3] + b"k2" + payload[5:]
    with pytest.raises(CodecError, match="does not authenticate under key 'k2'"):
        codec.decode(relabelled)


def test_a_payload_of_the_other_mode_or_unencrypted_is_a_clear_codec_error() -> None:
    siv_payload = deterministic_codec().bind("p", "q").encode({"a": 1})
    with pytest.raises(CodecError, match="encrypted in mode 'deterministic', but this codec is mode='random'"):
        random_codec().bind("p", "q").decode(siv_payload)
    with pytest.raises(CodecError, match=r"not an AeadCodec payload .* written unencrypted"):
        random_codec().bind("p", "q").decode(b'{"a":1}')


def test_a_plaintext_the_inner_codec_refuses_is_not_shown(wq: Worqr) -> None:
    """The inner codec's message would show the plaintext; the AEAD codec's never does."""
    loose = random_codec(JsonCodec()).bind("p", "q")
    strict = random_codec(JsonCodec(Payment)).bind("p", "q")
    payload = loose.encode({"secret": MARKER})
    with pytest.raises(CodecError) as caught:
        strict.decode(payload)
    assert MARKER not in str(caught.value)
    assert "cannot decode its plaintext" in str(caught.value)
    assert caught.value.payload == payload and caught.value.__cause__ is None


def test_an_empty_task_is_refused_as_with_the_plain_codecs() -> None:
    with pytest.raises(InvalidTaskTypeError, match="must not be empty"):
        random_codec(StrCodec()).bind("p", "q").encode("")


# Through a real server -------------------------------------------------------------------------


INNER_CODECS: list[tuple[Codec[Any], object]] = [
    (StrCodec(), f"héllo {MARKER}"),
    (BytesCodec(), b"\x00\xff" + MARKER.encode()),
    (JsonCodec(), {"text": MARKER, "n": [1, 2.5, None]}),
    (JsonCodec(Payment), Payment(MARKER, 1050)),
    (JsonCodec(Note), {"text": MARKER}),
]


@pytest.mark.parametrize("mode", ["random", "deterministic"])
@pytest.mark.parametrize(("inner", "task"), INNER_CODECS, ids=["str", "bytes", "json", "dataclass", "typeddict"])
def test_tasks_of_any_inner_codec_round_trip_and_redis_holds_no_plaintext(
    wq: Worqr, raw: redis.Redis, inner: Codec[Any], task: object, mode: str
) -> None:
    keys = {"k1": K1} if mode == "random" else {"k1": S1}
    view = wq.queue("secrets", AeadCodec(inner, keys=keys, mode=mode))  # type: ignore[arg-type]
    wq.start_work("secrets")
    view.enqueue_many([task, task])
    view.enqueue(task, delay=60)
    assert view.peek() == task
    assert view.tasks() == [task, task]
    process = view.dequeue()
    assert process is not None and process.task == task
    wq.fail_process(process.id, "boom", max_attempts=1)  # a dead letter
    assert [d.task for d in view.dead_letters()] == [task]
    stored = stored_values(raw, wq.prefix)
    assert len(stored) > 10
    assert not [value for value in stored if MARKER.encode() in value]
    for payload in pending(raw, wq, "secrets"):
        assert payload[:2] == bytes([0x01, 0x01 if mode == "random" else 0x02])


async def test_an_async_view_round_trips_and_binds_like_a_sync_one(
    make_async_worqr: MakeAsyncWorqr, raw: redis.Redis
) -> None:
    client = make_async_worqr()
    await client.start_worker()
    view = client.queue("payments", AeadCodec(JsonCodec(Payment), keys={"k1": K1}))
    assert isinstance(view.codec, AeadCodec) and (view.codec.prefix, view.codec.queue) == (client.prefix, "payments")
    await client.start_work("payments")
    assert await view.enqueue(Payment(MARKER, 5)) == 1
    assert await view.peek() == Payment(MARKER, 5)
    (payload,) = pending(raw, client, "payments")
    assert MARKER.encode() not in payload
    process = await view.dequeue()
    assert process is not None and process.task == Payment(MARKER, 5)
    await client.finish_process(process.id)
    assert await view.count() == 0


async def test_async_views_refuse_unique_and_cancel_in_random_mode_and_allow_them_in_deterministic(
    make_async_worqr: MakeAsyncWorqr, raw: redis.Redis
) -> None:
    client = make_async_worqr()
    randomized = client.queue("r", random_codec())
    with pytest.raises(InvalidArgumentError, match="mode='deterministic'"):
        await randomized.enqueue({"a": 1}, unique=True)
    with pytest.raises(InvalidArgumentError, match="mode='deterministic'"):
        await randomized.cancel({"a": 1})
    assert snapshot(raw, client.prefix) == {}
    determined = client.queue("d", deterministic_codec())
    await determined.enqueue({"a": 1}, unique=True)
    with pytest.raises(DuplicateTaskError):
        await determined.enqueue({"a": 1}, unique=True)
    assert await determined.cancel({"a": 1}) == 1
    assert await determined.count() == 0


def test_a_payload_moved_to_another_queue_or_prefix_does_not_decode(
    wq: Worqr, make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    for codec in (random_codec(), deterministic_codec()):
        source = wq.queue("source", codec)
        source.enqueue({"pay": MARKER})
        (payload,) = pending(raw, wq, "source")
        raw.delete(QueueKeys(wq.prefix, "source").pending)
        other_queue = wq.queue("elsewhere", codec)
        raw.rpush(QueueKeys(wq.prefix, "elsewhere").pending, payload)
        with pytest.raises(CodecError, match=r"does not authenticate .* for queue 'elsewhere'") as caught:
            other_queue.peek()
        assert MARKER not in str(caught.value)
        other = make_worqr(prefix=wq.prefix + "-other")
        raw.rpush(QueueKeys(other.prefix, "source").pending, payload)
        with pytest.raises(CodecError, match="another queue or prefix"):
            other.queue("source", codec).peek()
        raw.rpush(QueueKeys(wq.prefix, "source").pending, payload)  # back where it was made: fine
        assert source.peek() == {"pay": MARKER}
        for client, queue in ((wq, "source"), (wq, "elsewhere"), (other, "source")):
            raw.delete(QueueKeys(client.prefix, queue).pending)


def test_keys_rotate_by_id(wq: Worqr, raw: redis.Redis) -> None:
    before = wq.queue("jobs", AeadCodec(JsonCodec(), keys={"k1": K1}, primary="k1"))
    before.enqueue({"n": "old"})
    # Step 1 and 2 of the rotation: the new key is added, then made the primary; k1 is kept.
    during = wq.queue("jobs", AeadCodec(JsonCodec(), keys={"k2": K2, "k1": K1}, primary="k2"))
    during.enqueue({"n": "new"})
    assert [AeadCodec.key_id_of(p) for p in pending(raw, wq, "jobs")] == ["k1", "k2"]
    assert during.tasks() == [{"n": "old"}, {"n": "new"}]  # old tasks still decode
    # Step 3 done too early: k1 dropped while a task under it is still queued.
    after = wq.queue("jobs", AeadCodec(JsonCodec(), keys={"k2": K2}))
    with pytest.raises(CodecError, match="encrypted with key id 'k1', which this codec does not have") as caught:
        after.peek()
    assert "'k2'" in str(caught.value) and not shows_a_key(str(caught.value))
    wq.start_work("jobs")
    with pytest.raises(CodecError) as dequeued:
        after.dequeue()
    assert dequeued.value.process_id is not None and "'k1'" in str(dequeued.value)
    wq.stop_process(dequeued.value.process_id)  # back to the front, readable again with k1
    assert during.dequeue() is not None


# Payload equality: unique tasks, cancel, matching processes --------------------------------------


def test_random_mode_refuses_every_payload_matching_operation_before_any_write(wq: Worqr, raw: redis.Redis) -> None:
    view = wq.queue("jobs", random_codec())
    refusals: list[tuple[str, Callable[[], object]]] = [
        ("enqueue(..., unique=True)", lambda: view.enqueue({"a": 1}, unique=True)),
        ("enqueue(..., unique=True)", lambda: view.enqueue({"a": 1}, unique=True, delay=60)),
        ("enqueue(..., unique=True)", lambda: view.enqueue_many([{"a": 1}, {"a": 2}], unique=True)),
        ("cancel_tasks (Queue.cancel)", lambda: view.cancel({"a": 1})),
        (
            "get_matching_processes",
            lambda: wq._drive(flows.get_matching_processes(wq._session, view.codec, {"a": 1})),
        ),
    ]
    before = snapshot(raw, wq.prefix)
    for operation, refused in refusals:
        with pytest.raises(InvalidArgumentError) as caught:
            refused()
        message = str(caught.value)
        assert message.startswith(f"{operation} finds tasks by their payload bytes"), message
        assert "fresh random nonce" in message and "mode='deterministic'" in message, message
        assert "nothing was written" in message
        assert not shows_a_key(message)
    assert snapshot(raw, wq.prefix) == before
    assert (view.count(), view.count_delayed()) == (0, 0)
    assert view.enqueue({"a": 1}) == 1  # without unique=True it works


def test_deterministic_mode_makes_unique_tasks_cancel_and_matching_work(wq: Worqr) -> None:
    view = wq.queue("jobs", deterministic_codec())
    assert view.enqueue({"a": 1}, unique=True) == 1
    with pytest.raises(DuplicateTaskError):
        view.enqueue({"a": 1}, unique=True)
    with pytest.raises(DuplicateTaskError):
        view.enqueue({"a": 1}, unique=True, delay=60)
    view.enqueue_many([{"a": 2}, {"a": 2}, {"a": 3}])
    assert view.cancel({"a": 2}) == 2
    assert view.tasks() == [{"a": 1}, {"a": 3}]
    wq.start_work("jobs")
    process = view.dequeue()
    assert process is not None
    assert wq._drive(flows.get_matching_processes(wq._session, view.codec, {"a": 1})) == [process.id]
    wq.finish_process(process.id)
    assert view.enqueue({"a": 1}, unique=True) == 1  # finished: its unique marker is gone


# The runtime ----------------------------------------------------------------------------------


def test_a_retried_task_keeps_its_payload_so_attempts_count_in_random_mode(
    wq: Worqr, make_worqr: MakeWorqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    """The payload is encrypted once, at enqueue: fail.lua puts the same bytes back for the
    retry, and the attempt count (keyed by the payload) goes up to max_attempts."""
    client = make_worqr(**FAST)
    view = client.queue("jobs", random_codec())
    wq.queue("jobs", random_codec()).enqueue({"n": MARKER})
    (enqueued,) = pending(raw, wq, "jobs")
    attempts: list[int] = []

    def handle(process: Process[Any]) -> None:
        attempts.append(process.attempt)
        raise RuntimeError("declined")

    worker = started(client.worker(view, handle, max_attempts=3, backoff=QUICK), stopping)
    settled(worker, dead_lettered=1)
    assert attempts == [1, 2, 3]
    (dead,) = wq.queue("jobs", BytesCodec()).dead_letters()
    assert dead.task == enqueued and dead.attempts == 3
    assert view.dead_letters()[0].task == {"n": MARKER}


def test_a_tampered_task_is_dead_lettered_by_a_runtime_worker_and_the_others_run(
    wq: Worqr, make_worqr: MakeWorqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    client = make_worqr(**FAST)
    codec = AeadCodec(JsonCodec(Payment), keys={"k1": K1})
    producer = wq.queue("payments", codec)
    producer.enqueue_many([Payment("mallory", 1), Payment("alice", 2), Payment("bob", 3)])
    key = QueueKeys(wq.prefix, "payments").pending
    first = cast("bytes", raw.lindex(key, 0))
    tampered = flipped(first, len(first) - 20)  # one bit of the ciphertext
    raw.lset(key, 0, tampered)  # type: ignore[arg-type]
    done: list[Payment] = []
    lock = threading.Lock()

    def handle(process: Process[Payment]) -> None:
        with lock:
            done.append(process.task)

    worker = started(client.worker(client.queue("payments", codec), handle, backoff=QUICK), stopping)
    settled(worker, processed=2, dead_lettered=1)
    assert sorted(done, key=lambda p: p.cents) == [Payment("alice", 2), Payment("bob", 3)]
    (dead,) = wq.queue("payments", BytesCodec()).dead_letters()
    assert dead.task == tampered and dead.error_type == "CodecError"
    assert "does not authenticate under key 'k1'" in dead.error and "tampered with" in dead.error
    assert not shows_a_key(dead.error)
    assert worker.running
    producer.enqueue(Payment("carol", 4))  # the worker goes on with new tasks
    wait_until(lambda: Payment("carol", 4) in done)


def test_done_events_carry_the_ciphertext_and_the_result_in_clear(
    wq: Worqr, make_worqr: MakeWorqr, stopping: list[Worker[Any]]
) -> None:
    client = make_worqr(**FAST)
    codec = AeadCodec(JsonCodec(), keys={"k1": K1})
    messages: list[dict[str, Any]] = []
    seen: list[Event] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        if event.type == "done":
            messages.append(json.loads(event.message))

    wq.on("jobs", on_event)
    view = wq.queue("jobs", codec)
    worker = started(client.worker(client.queue("jobs", codec), lambda _: {"ok": True}), stopping)
    view.enqueue({"secret": MARKER})
    wait_until(lambda: len(messages) == 1)
    settled(worker, processed=1)
    (message,) = messages
    assert message["task_encoding"] == "base64" and message["result"] == {"ok": True}
    assert MARKER not in json.dumps(message)
    assert all(MARKER not in e.message for e in seen)
    assert view.codec.decode(base64.b64decode(message["task"])) == {"secret": MARKER}  # short: whole


def test_max_payload_size_counts_the_encrypted_bytes(make_worqr: MakeWorqr) -> None:
    client = make_worqr(max_payload_size=100)
    plain, encrypted = client.queue("q", StrCodec()), client.queue("q", random_codec(StrCodec()))
    assert plain.enqueue("x" * 90) == 1
    with pytest.raises(PayloadTooLargeError, match="task of 123 bytes"):  # 90 + 3 + 2 + 12 + 16
        encrypted.enqueue("x" * 90)
