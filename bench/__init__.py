"""The benchmark of issue 5: worqr beside the raw Redis ceiling and its peers, on a fresh server.

    python -m bench.run            # the full run, a few minutes (docs/performance.md)
    python -m bench.run --quick    # tiny counts, worqr and raw only (tests/test_bench_smoke.py)

`bench.run` starts the server and prints the table; `bench.raw` measures the hand-written
pattern, `bench.worqr_side` worqr, `bench.peers` the other libraries. Worker processes are
started by `bench.children`; `bench.redis_stats` reads what the server counted.
"""
