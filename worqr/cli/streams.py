"""The ``worqr streams`` and ``worqr stream NAME`` commands (worqr.streams): every stream
subscribed to, and one stream with its groups."""

from __future__ import annotations

import argparse
from typing import Any

from worqr import StreamInfo, Worqr
from worqr.cli import render
from worqr.cli.answers import Answer
from worqr.streams.documents import stream_group_document

STREAM_COLUMNS = ("name", "length", "groups", "lag", "pending", "dead")
GROUP_COLUMNS = ("name", "consumers", "pending", "lag", "last_delivered_id")


def _stream_document(info: StreamInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "partitions": info.partitions,
        "length": info.length,
        "dead": info.dead_letters,
        "groups": [stream_group_document(g) for g in info.groups],
        "counters": info.counters,
    }


def streams(wq: Worqr, args: argparse.Namespace) -> Answer:
    del args
    rows = [_stream_document(info) for info in wq.inspect_streams()]
    shown = [
        {
            **row,
            "groups": len(row["groups"]),
            "lag": sum(g["lag"] or 0 for g in row["groups"]),
            "pending": sum(g["pending"] for g in row["groups"]),
        }
        for row in rows
    ]
    return Answer(rows, render.table(shown, STREAM_COLUMNS, empty="no streams subscribed to"))


def stream(wq: Worqr, args: argparse.Namespace) -> Answer:
    (row,) = (_stream_document(info) for info in wq.inspect_streams([args.name]))
    shape = f", ordered in {row['partitions']} partitions" if row["partitions"] else ""
    head = f"stream {args.name}: {row['length']} message(s){shape}, {row['dead']} dead letter(s)\n" + ", ".join(
        f"{name} {value}" for name, value in row["counters"].items()
    )
    shown = [{**g, "lag": "?" if g["lag"] is None else g["lag"]} for g in row["groups"]]
    return Answer(row, head + "\n\n" + render.table(shown, GROUP_COLUMNS, empty="no groups"))
