"""Streams (worqr.streams) with the threaded client, against a real server: publish and
replay, groups and fan-out, acknowledgement by id and cumulative, redelivery that follows the
death of a consumer and never the time a message took, a zombie's refused ack, dead letters
after max_deliveries, retention, and bad input. The asyncio client's are in
tests/test_async_streams.py; SIGKILL and SIGSTOP of consumer processes in
tests/scenarios/test_stream_processes.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
import redis

from tests.helpers import without_reap_hint
from tests.runtime_helpers import FAST, declare_dead, keys_of
from worqr import (
    BytesCodec,
    ClientClosedError,
    GroupNotFoundError,
    InvalidArgumentError,
    InvalidNameError,
    InvalidTaskTypeError,
    JsonCodec,
    Message,
    MessageNotFoundError,
    PayloadTooLargeError,
    Subscription,
    WorkerLostError,
    WorkerNotStartedError,
    Worqr,
)
from worqr._protocol.keys import StreamKeys
from worqr.cli import main
from worqr.streams import flows as stream_flows

MakeWorqr = Callable[..., Worqr]


def started(make_worqr: MakeWorqr, **options: object) -> Worqr:
    client = make_worqr(**{**FAST, **options})
    client.start_worker()
    return client


def test_publish_returns_ordered_ids_and_read_replays_from_any_id(make_worqr: MakeWorqr) -> None:
    stream = make_worqr().stream("events")
    first = stream.publish("a")
    rest = stream.publish_many(["b", "c", "d"])
    ids = [first, *rest]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert len(set(ids)) == 4
    assert stream.length() == 4
    everything = stream.read()
    assert [m.data for m in everything] == ["a", "b", "c", "d"]
    assert [m.id for m in everything] == ids
    assert all(m.published_at.tzinfo is not None and m.deliveries == 0 for m in everything)
    assert [m.data for m in stream.read(after=ids[1])] == ["c", "d"]
    assert [m.data for m in stream.read(after=ids[0], count=2)] == ["b", "c"]
    assert stream.read(after=ids[-1]) == []
    assert stream.publish_many([]) == []


def test_typed_streams_round_trip_their_values(make_worqr: MakeWorqr) -> None:
    client = make_worqr()
    orders = client.stream("orders", JsonCodec(dict[str, int]))
    orders.publish({"id": 1, "qty": 3})
    assert orders.read()[0].data == {"id": 1, "qty": 3}
    blobs = client.stream("blobs", BytesCodec())
    blobs.publish(b"\x00\xff")
    assert blobs.read()[0].data == b"\x00\xff"


def test_every_group_gets_every_message_and_each_consumer_of_a_group_its_own(make_worqr: MakeWorqr) -> None:
    a, b = started(make_worqr), started(make_worqr)
    audit = a.stream("events").subscribe("audit", start="first")
    mail_a = a.stream("events").subscribe("mail", start="first")
    mail_b = b.stream("events").subscribe("mail", start="first")
    a.stream("events").publish_many([f"m{i}" for i in range(10)])
    audited = [audit.next(timeout=5) for _ in range(10)]
    assert [m.data for m in audited if m] == [f"m{i}" for i in range(10)]
    got: dict[str, list[str]] = {"a": [], "b": []}
    for _ in range(10):
        for name, sub in (("a", mail_a), ("b", mail_b)):
            message = sub.next(timeout=0)
            if message is not None:
                got[name].append(message.data)
                assert message.ack() is True
    assert sorted(got["a"] + got["b"]) == sorted(f"m{i}" for i in range(10))
    assert not set(got["a"]) & set(got["b"])


def test_next_waits_for_a_publish_and_times_out_with_none(make_worqr: MakeWorqr) -> None:
    consumer = started(make_worqr, poll_interval=60.0)
    sub = consumer.stream("events").subscribe("g")
    assert sub.next(timeout=0.05) is None
    publisher = make_worqr()
    threading.Timer(0.2, lambda: publisher.stream("events").publish("late")).start()
    message = sub.next(timeout=10)  # woken by the published notice, not the 60 s poll
    assert message is not None and message.data == "late"


def test_start_new_skips_what_was_published_before_and_a_late_group_replays_from_first(
    make_worqr: MakeWorqr,
) -> None:
    client = started(make_worqr)
    stream = client.stream("events")
    stream.publish_many(["old1", "old2"])
    new = stream.subscribe("new")
    late = stream.subscribe("late", start="first")
    stream.publish("fresh")
    assert [m.data for m in iter_some(new, 1)] == ["fresh"]
    assert [m.data for m in iter_some(late, 3)] == ["old1", "old2", "fresh"]
    by_id = stream.subscribe("from-id", start=stream.read()[0].id)
    assert [m.data for m in iter_some(by_id, 2)] == ["old2", "fresh"]


def iter_some(sub: Subscription[str], n: int) -> list[Message[str]]:
    """The next ``n`` messages of ``sub`` (each must come within 5 s)."""
    out = []
    for _ in range(n):
        message = sub.next(timeout=5)
        assert message is not None
        out.append(message)
    return out


def test_a_message_held_long_past_the_worker_timeout_is_not_redelivered_while_its_worker_lives(
    make_worqr: MakeWorqr,
) -> None:
    holder, peer = started(make_worqr), started(make_worqr)
    stream = holder.stream("events")
    held = stream.subscribe("g")
    waiting = peer.stream("events").subscribe("g")
    stream.publish("slow")
    message = held.next(timeout=5)
    assert message is not None
    # Three worker timeouts (FAST: 1 s) with a live heartbeat: the peer's sweeps reap nobody
    # and its take finds nothing, because redelivery follows death, not time.
    assert waiting.next(timeout=3 * FAST["worker_timeout"]) is None
    assert peer.cleanup_workers() == []
    assert [(p.id, p.consumer) for p in stream.pending("g")] == [(message.id, holder.worker_id)]
    assert message.ack() is True
    assert stream.pending("g") == []


def test_a_dead_consumers_messages_go_to_a_live_one_and_its_late_ack_is_refused(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    victim, peer = started(make_worqr), started(make_worqr)
    without_reap_hint(raw, victim.prefix)
    held = victim.stream("events").subscribe("g", start="first")
    victim.stream("events").publish_many(["x", "y"])
    first, second = held.next(timeout=5), held.next(timeout=5)
    assert first is not None and second is not None
    rescuer = peer.stream("events").subscribe("g")
    assert rescuer.next(timeout=0) is None  # held by a live consumer: nothing for the peer
    declare_dead(victim, peer, raw)
    pending = peer.stream("events").pending("g")
    assert {p.id for p in pending} == {first.id, second.id} and {p.consumer for p in pending} == {None}
    again = [rescuer.next(timeout=5), rescuer.next(timeout=5)]
    assert [(m.id, m.data, m.deliveries) for m in again if m] == [(first.id, "x", 2), (second.id, "y", 2)]
    assert first.ack() is False  # the zombie's late ack: refused, the message stays the rescuer's
    assert {p.consumer for p in peer.stream("events").pending("g")} == {peer.worker_id}
    with pytest.raises(WorkerLostError, match="declared dead"):
        held.next(timeout=0)
    assert all(m is not None and m.ack() for m in again)
    assert peer.stream("events").pending("g") == []


@pytest.mark.parametrize("steps", [1, 2], ids=["killed_after_listing", "killed_after_joining"])
def test_a_worker_killed_at_any_step_of_subscribe_leaves_no_member_its_reap_misses(
    make_worqr: MakeWorqr, raw: redis.Redis, steps: int
) -> None:
    """Subscribe lists the stream among the worker's before it joins the group: a worker
    that dies after the listing, or after the join, is cleaned up by its reap."""
    victim, peer = started(make_worqr), started(make_worqr)
    without_reap_hint(raw, victim.prefix)
    keys = StreamKeys(victim.prefix, "events")
    flow = stream_flows.subscribe(victim._core.session, keys, "g", "0", retain=False, partitions=0)
    batch = next(flow)
    for _ in range(steps):  # run the first steps of subscribe, then the process "dies"
        assert isinstance(batch, list)  # a batch of calls (subscribe never pauses)
        batch = flow.send(victim._core.runner.run(batch))
    joined = raw.hexists(keys.consumers, f"g\n{victim.worker_id}")
    assert joined == (steps == 2)
    declare_dead(victim, peer, raw)
    assert not raw.hexists(keys.consumers, f"g\n{victim.worker_id}")
    assert [g.consumers for g in peer.stream("events").groups()] == ([0] if steps == 2 else [])


def test_ack_through_acknowledges_everything_held_up_to_the_id(make_worqr: MakeWorqr) -> None:
    client = started(make_worqr)
    sub = client.stream("events").subscribe("g", start="first", prefetch=100)
    ids = client.stream("events").publish_many([str(i) for i in range(6)])
    taken = iter_some(sub, 6)
    assert [m.id for m in taken] == ids
    assert sub.ack_through(ids[3]) == 4
    assert [p.id for p in sub.pending()] == ids[4:]
    assert sub.ack_through(ids[3]) == 0
    assert sub.ack_many(ids[3:]) == [False, True, True]
    assert sub.pending() == []


def test_a_message_delivered_max_deliveries_times_goes_to_the_dead_letters(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    peer = started(make_worqr)
    without_reap_hint(raw, peer.prefix)
    peer.stream("events").publish("poison")
    for deliveries in (1, 2):
        victim = started(make_worqr)
        message = victim.stream("events").subscribe("g", start="first", max_deliveries=2).next(timeout=5)
        assert message is not None and message.deliveries == deliveries
        declare_dead(victim, peer, raw)
    last = peer.stream("events").subscribe("g", max_deliveries=2)
    assert last.next(timeout=0) is None  # the third delivery would be one too many
    (letter,) = peer.stream("events").dead_letters()
    assert (letter.data, letter.group, letter.deliveries) == ("poison", "g", 2)
    assert "max_deliveries 2" in letter.reason
    assert peer.stream("events").count_dead_letters() == 1
    assert peer.stream("events").counters()["dead_lettered"] == 1
    assert peer.stream("events").pending("g") == []


def test_close_hands_the_messages_it_holds_to_the_group(make_worqr: MakeWorqr) -> None:
    a, b = started(make_worqr), started(make_worqr)
    leaving = a.stream("events").subscribe("g", start="first", prefetch=100)
    a.stream("events").publish_many(["1", "2", "3"])
    assert leaving.next(timeout=5) is not None  # takes all three; one returned, two buffered
    assert leaving.close() == 3
    assert leaving.close() == 0
    with pytest.raises(ClientClosedError):
        leaving.next(timeout=0)
    staying = b.stream("events").subscribe("g")
    assert [m.data for m in iter_some(staying, 3)] == ["1", "2", "3"]


def test_groups_report_consumers_pending_and_lag(make_worqr: MakeWorqr) -> None:
    client = started(make_worqr)
    stream = client.stream("events")
    assert stream.groups() == []
    sub = stream.subscribe("g", start="first", prefetch=1)
    stream.publish_many(["1", "2", "3"])
    assert sub.next(timeout=5) is not None
    (group,) = stream.groups()
    assert (group.name, group.consumers, group.pending) == ("g", 1, 1)
    assert group.lag == 2
    assert stream.delete_group("g") is True
    assert stream.delete_group("g") is False
    with pytest.raises(GroupNotFoundError, match="no group 'g'"):
        sub.next(timeout=0)


def test_retention_max_len_and_trim(make_worqr: MakeWorqr) -> None:
    client = make_worqr()
    bounded = client.stream("bounded", max_len=3)
    bounded.publish_many([str(i) for i in range(10)])
    assert [m.data for m in bounded.read()] == ["7", "8", "9"]
    stream = client.stream("events")
    ids = stream.publish_many([str(i) for i in range(10)])
    assert stream.trim(max_len=6) == 4
    assert stream.trim(min_id=ids[7]) == 3
    assert [m.data for m in stream.read()] == ["7", "8", "9"]


def test_a_message_the_codec_cannot_decode_goes_to_the_dead_letters(make_worqr: MakeWorqr) -> None:
    client = started(make_worqr)
    client.stream("events", BytesCodec()).publish(b"\xff\xfe")
    client.stream("events").publish("fine")
    sub = client.stream("events").subscribe("g", start="first")
    message = sub.next(timeout=5)
    assert message is not None and message.data == "fine"
    (letter,) = client.stream("events", BytesCodec()).dead_letters()
    assert letter.data == b"\xff\xfe" and "cannot decode" in letter.reason


def test_bad_input_is_refused_before_anything_is_written(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    client = make_worqr()
    with pytest.raises(InvalidArgumentError, match="max_len"):
        client.stream("events", max_len=0)
    with pytest.raises(InvalidNameError):
        client.stream("")
    stream = client.stream("events", JsonCodec())
    with pytest.raises(InvalidTaskTypeError):
        stream.publish_many([{"ok": 1}, {"no": object()}])
    with pytest.raises(PayloadTooLargeError):
        make_worqr(max_payload_size=10).stream("events").publish("x" * 11)
    assert keys_of(raw, client) == []  # nothing written: not even the first message
    with pytest.raises(InvalidArgumentError, match="message id"):
        stream.read(after="yesterday")
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        stream.trim()
    with pytest.raises(GroupNotFoundError):
        stream.pending("nobody")
    with pytest.raises(WorkerNotStartedError, match="start_worker"):
        stream.subscribe("g")
    client.start_worker()
    with pytest.raises(InvalidArgumentError, match="start must be"):
        stream.subscribe("g", start="last")
    with pytest.raises(InvalidArgumentError, match="max_deliveries"):
        stream.subscribe("g", max_deliveries=0)
    sub = stream.subscribe("g")
    stream.publish({"n": 1})
    message = sub.next(timeout=5)
    assert message is not None
    with pytest.raises(MessageNotFoundError, match="never delivered"):
        sub.ack_many([message.id, "99999999999999-0"])
    assert [p.id for p in sub.pending()] == [message.id]  # the batch was refused whole
    with pytest.raises(InvalidArgumentError, match="message id"):
        sub.ack("not-an-id")


def test_a_clobbered_stream_key_gives_a_clear_error_and_changes_nothing(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    client = make_worqr()
    keys = StreamKeys(client.prefix, "events")
    raw.set(keys.messages, "not a stream")
    with pytest.raises(Exception, match="holds a string, not a stream"):
        client.stream("events").publish("x")
    assert raw.get(keys.messages) == b"not a stream"


def test_the_cli_shows_streams_and_one_stream(
    make_worqr: MakeWorqr, redis_url: str, worqr_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = started(make_worqr)
    sub = client.stream("events").subscribe("audit", start="first", prefetch=1)
    client.stream("events").publish_many(["1", "2", "3"])
    assert sub.next(timeout=5) is not None
    base = ["--redis", redis_url, "--prefix", worqr_prefix]
    capsys.readouterr()
    assert main([*base, "streams", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["length"], row["dead"]) == ("events", 3, 0)
    assert row["groups"] == [
        {
            "name": "audit",
            "consumers": 1,
            "pending": 1,
            "lag": 2,
            "last_delivered_id": row["groups"][0]["last_delivered_id"],
        }
    ]
    assert main([*base, "streams"]) == 0
    assert "events" in capsys.readouterr().out
    assert main([*base, "stream", "events"]) == 0
    text = capsys.readouterr().out
    assert "stream events: 3 message(s), 0 dead letter(s)" in text and "audit" in text
    assert "published 3, delivered 1, redelivered 0, acked 0, dead_lettered 0" in text
    assert main([*base, "stream", "nothing-here", "--json"]) == 0
    empty = dict.fromkeys(("published", "delivered", "redelivered", "acked", "dead_lettered"), 0)
    assert json.loads(capsys.readouterr().out) == {
        "name": "nothing-here",
        "partitions": 0,
        "length": 0,
        "dead": 0,
        "groups": [],
        "counters": empty,
    }


def test_closing_the_client_hands_its_messages_on(make_worqr: MakeWorqr) -> None:
    leaving, staying = started(make_worqr), started(make_worqr)
    sub = leaving.stream("events").subscribe("g", start="first")
    leaving.stream("events").publish_many(["1", "2"])
    assert sub.next(timeout=5) is not None
    leaving.close()
    rescuer = staying.stream("events").subscribe("g")
    assert sorted(m.data for m in iter_some(rescuer, 2)) == ["1", "2"]


def test_retain_until_acked_drops_a_message_once_every_group_acknowledged_it(make_worqr: MakeWorqr) -> None:
    client = started(make_worqr)
    stream = client.stream("events", max_len=2)
    billing = stream.subscribe("billing", start="first", retain_until_acked=True)
    audit = stream.subscribe("audit", start="first")
    ids = stream.publish_many(["1", "2", "3", "4"])
    assert stream.length() == 4  # max_len 2, but no group acknowledged anything yet
    assert stream.trim(max_len=1) == 0 and stream.trim(min_id=ids[3]) == 0
    first = iter_some(billing, 2)
    assert billing.ack_through(first[1].id) == 2
    assert stream.length() == 4  # audit has not acknowledged them
    late = stream.subscribe("late", start="first")  # a late subscriber replays every message kept
    assert [m.data for m in iter_some(late, 4)] == ["1", "2", "3", "4"]
    assert late.ack_through(ids[3]) == 4
    audited = iter_some(audit, 3)
    assert audit.ack(audited[0].id) is True
    assert [m.data for m in stream.read()] == ["2", "3", "4"]  # "1" acknowledged by every group: gone
    assert audit.ack_many([m.id for m in audited[1:]]) == [True, True]
    # "2" is acknowledged by every group now; "3" and "4" not by billing: they stay.
    assert [m.data for m in stream.read()] == ["3", "4"]
    assert [m.data for m in iter_some(billing, 2)] == ["3", "4"]


def test_without_retain_until_acked_max_len_drops_unacknowledged_messages(make_worqr: MakeWorqr) -> None:
    client = started(make_worqr)
    stream = client.stream("events", max_len=2)
    sub = stream.subscribe("g", start="first")
    stream.publish_many(["1", "2", "3"])
    assert [m.data for m in stream.read()] == ["2", "3"]
    assert [m.data for m in iter_some(sub, 2)] == ["2", "3"]


def test_the_counters_count_each_step_where_it_happens(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    victim, peer = started(make_worqr), started(make_worqr)
    without_reap_hint(raw, victim.prefix)
    stream = peer.stream("events")
    held = victim.stream("events").subscribe("g", start="first", max_deliveries=2)
    stream.publish_many(["1", "2", "3"])
    taken = iter_some(held, 3)
    assert held.ack(taken[0].id) is True
    declare_dead(victim, peer, raw)
    rescuer = stream.subscribe("g", max_deliveries=2)
    again = iter_some(rescuer, 2)
    assert rescuer.ack_through(again[1].id) == 2
    assert stream.counters() == {"published": 3, "delivered": 3, "redelivered": 2, "acked": 3, "dead_lettered": 0}
