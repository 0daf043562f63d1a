"""The chaos soak: worker OS processes drain a queue while workers are killed and frozen
and the Redis server is restarted; a ledger kept outside worqr and the server's own journal
(its append-only file) then show that no task was lost and no completion accepted twice.

    python -m soak.run --help

Modules: `soak.settings` (what shapes a run, and its command line), `soak.chaos` (the
seeded schedule), `soak.worker` (a worker process), `soak.ledger` (what each worker saw),
`soak.journal` (what the server applied), `soak.report` (the figures and checks),
`soak.run` (the orchestrator).
See docs/reliability.md for what a run proves.
"""
