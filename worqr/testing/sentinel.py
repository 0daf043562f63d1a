"""`LocalSentinel`: a real local Sentinel setup for tests (a primary, its replicas and the
sentinels that watch them, `kill_primary`), from the binary `RedisServer` runs."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis

from worqr.testing._topology import (
    HOST,
    LOG,
    MIN_TIMEOUT_MS,
    AdminClients,
    TopologyError,
    as_dict,
    check_int,
    free_ports,
    log_tail,
    new_server,
    remaining,
    start,
    wait_until,
)
from worqr.testing.server import RedisServer


class _SentinelProcess:
    """One ``--sentinel`` process with its own directory and (rewritable) config file."""

    def __init__(self, binary: str, port: int, config: Sequence[str]) -> None:
        self.binary = binary
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="worqr-sentinel-")
        self.config = Path(self.dir) / "sentinel.conf"
        base = [
            f"port {port}",
            f"bind {HOST}",
            "protected-mode no",
            "daemonize no",
            f'dir "{self.dir}"',
            f"logfile {LOG}",
        ]
        self.config.write_text("\n".join([*base, *config]) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, admin: redis.Redis, timeout: float) -> None:
        args = [self.binary, str(self.config), "--sentinel"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # noqa: S603 (our binary)

        def problem() -> str | None:
            if self.process is not None and self.process.poll() is not None:
                msg = f"sentinel ({self.binary} on port {self.port}) exited with code {self.process.returncode}; its log ends: {log_tail(self.dir)}"
                raise TopologyError(msg)
            return None if admin.ping() else "no PONG"

        wait_until(problem, timeout, f"sentinel on port {self.port} did not answer")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


class LocalSentinel:
    """A real local Sentinel setup: one primary, ``replicas`` replicas and ``sentinels`` sentinels
    monitoring it as ``service`` with quorum ``sentinels // 2 + 1``, ``down-after-milliseconds``
    = ``down_after_ms`` and ``failover-timeout`` = ``failover_timeout_ms`` (defaults 1000 / 3000 ms:
    a killed primary is replaced in a few seconds). ``extra_args`` go to the primary and replicas.
    """

    def __init__(
        self,
        *,
        service: str = "worqr",
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        extra_args: Sequence[str] = (),
    ) -> None:
        if not isinstance(service, str) or not service or any(c.isspace() or c in "/,\"'" for c in service):
            raise ValueError(f"service must be a non-empty name without spaces, quotes, ',' or '/', got {service!r}")
        check_int("replicas", replicas, 0)
        check_int("sentinels", sentinels, 1)
        check_int("down_after_ms", down_after_ms, MIN_TIMEOUT_MS)
        check_int("failover_timeout_ms", failover_timeout_ms, MIN_TIMEOUT_MS)
        self.service = service
        self.replica_count = replicas
        self.sentinel_count = sentinels
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.extra_args = list(extra_args)
        self._primary: RedisServer | None = None
        #: The live replicas of the current primary.
        self.replicas: list[RedisServer] = []
        self._killed: list[RedisServer] = []
        self._sentinels: list[_SentinelProcess] = []
        self._admin = AdminClients()

    @property
    def primary(self) -> RedisServer:
        """The current primary's server (after `kill_primary`, the promoted replica)."""
        if self._primary is None:
            raise RuntimeError("this LocalSentinel is not started")
        return self._primary

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [(HOST, sentinel.port) for sentinel in self._sentinels]

    @property
    def url(self) -> str:
        """``redis+sentinel://host:port,host:port,.../service`` with the sentinels' addresses."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinel_addresses)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the primary and replicas, wait until the replicas are in sync, start the sentinels,
        and wait until every sentinel knows the primary, every replica and every other sentinel."""
        if self._primary is not None:
            raise RuntimeError("this LocalSentinel was already started")
        deadline = time.monotonic() + timeout
        try:
            ports = free_ports(1 + self.replica_count + self.sentinel_count)  # all distinct
            self._primary = new_server(ports.pop(), self.extra_args)
            start(self._primary, "the primary", remaining(deadline))
            for _ in range(self.replica_count):
                replica = new_server(ports.pop(), ["--replicaof", HOST, str(self._primary.port), *self.extra_args])
                self.replicas.append(replica)
                start(replica, "a replica", remaining(deadline))
            wait_until(self._sync_problem, remaining(deadline), "the replicas did not sync with the primary")
            quorum = self.sentinel_count // 2 + 1
            config = [
                f"sentinel monitor {self.service} {HOST} {self._primary.port} {quorum}",
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}",
                f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}",
            ]
            for port in ports:
                sentinel = _SentinelProcess(self._primary.binary, port, config)
                self._sentinels.append(sentinel)
                sentinel.start(self._admin(port), remaining(deadline))
            wait_until(self._discovery_problem, remaining(deadline), "the sentinels did not discover the setup")
        except BaseException:
            self.close()
            raise

    def _sync_problem(self) -> str | None:
        for replica in self.replicas:
            info = self._admin(replica.port).info("replication")
            if info.get("master_port") != self.primary.port or info.get("master_link_status") != "up":
                return f"replica {replica.port} is not in sync with primary {self.primary.port}: {info.get('master_port')}, {info.get('master_link_status')}"
        return None

    def _discovery_problem(self) -> str | None:
        for sentinel in self._sentinels:
            master = as_dict(self._admin.run(sentinel.port, "SENTINEL", "MASTER", self.service))
            if master.get("flags") != "master" or master.get("port") != str(self.primary.port):
                return f"sentinel {sentinel.port} sees the primary as {master.get('port')} ({master.get('flags')})"
            if master.get("num-other-sentinels") != str(self.sentinel_count - 1):
                return f"sentinel {sentinel.port} knows {master.get('num-other-sentinels')} other sentinels"
            known = {
                int(info["port"]): info
                for info in map(as_dict, self._admin.run(sentinel.port, "SENTINEL", "REPLICAS", self.service))
            }
            for replica in self.replicas:
                info = known.get(replica.port)
                if info is None or info.get("flags") != "slave" or info.get("master-link-status") != "ok":
                    return f"sentinel {sentinel.port} does not see replica {replica.port} in sync yet"
        return None

    def primary_address(self) -> tuple[str, int]:
        """The primary's address as the first answering sentinel reports it."""
        errors: list[str] = []
        for sentinel in self._sentinels:
            try:
                host, port = self._admin.run(sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
            except redis.RedisError as exc:
                errors.append(f"{sentinel.port}: {exc}")
                continue
            return (str(host), int(port))
        raise TopologyError(f"no sentinel answered: {errors}")

    def kill_primary(self, timeout: float = 30.0) -> tuple[str, int]:
        """SIGKILL the primary; wait until every sentinel reports the same new primary, it answers
        ROLE as master and the other replicas are in sync with it; return its address (`primary`
        and `replicas` follow; the killed server stays down)."""
        if not self.replicas:
            raise ValueError("kill_primary needs a live replica to promote")
        deadline = time.monotonic() + timeout
        old = self.primary
        old.stop()
        self._killed.append(old)
        by_port = {replica.port: replica for replica in self.replicas}
        promoted: list[RedisServer] = []

        def promotion_problem() -> str | None:
            reported = set()
            for sentinel in self._sentinels:
                host, port = self._admin.run(sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
                reported.add((str(host), int(port)))
            if len(reported) != 1:
                return f"the sentinels disagree: {sorted(reported)}"
            ((_, port),) = reported
            if port not in by_port:
                return f"the sentinels still report port {port}"
            if self._admin.run(port, "ROLE")[0] not in ("master", "primary"):
                return f"the reported primary {port} does not answer ROLE as master yet"
            promoted.append(by_port[port])
            return None

        wait_until(promotion_problem, remaining(deadline), f"no replica took over from port {old.port}")
        self._primary = promoted[0]
        self.replicas = [replica for replica in self.replicas if replica is not promoted[0]]
        wait_until(self._sync_problem, remaining(deadline), "the other replicas did not follow the new primary")
        return (HOST, promoted[0].port)

    def close(self) -> None:
        """Stop the sentinels and servers and remove their directories."""
        self._admin.close()
        for sentinel in self._sentinels:
            sentinel.close()
        for server in [*([self._primary] if self._primary else []), *self.replicas, *self._killed]:
            server.close()

    def __enter__(self) -> LocalSentinel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
