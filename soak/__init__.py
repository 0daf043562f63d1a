"""The chaos soak: worker OS processes of several kinds (the plain API, ``Worqr.worker``,
``AsyncWorqr.worker``, persistent workers) drain a queue, each connected to Redis through
a fault proxy of its own, while workers are killed and frozen, the Redis server is
restarted and stalled, and one worker's link at a time is partitioned, silenced or slowed;
a ledger kept outside worqr and the server's own journal (its append-only file) then show
that no task was lost, no completion accepted twice, and no worker exited.

    python -m soak.run --help

Modules: `soak.settings` (what shapes a run, and its command line), `soak.chaos` (the
seeded schedule), `soak.worker` (a plain worker process), `soak.runtime_worker` (a runtime
or persistent worker process), `soak.ledger` (what each worker saw), `soak.journal` (what
the server applied), `soak.holds` (held tasks left unrun, singleton overlap),
`soak.report` (the figures and checks), `soak.run` (the orchestrator).
See docs/reliability.md for what a run proves.
"""
