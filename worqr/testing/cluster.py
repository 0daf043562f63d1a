"""`LocalCluster`: a real local Redis Cluster for tests (primaries, their replicas,
`fail_over`, `restart`, `move_slot`), formed with CLUSTER MEET / ADDSLOTSRANGE / REPLICATE.

It runs the binary `RedisServer` runs (``redis-server`` 7.0+ or ``valkey-server`` 8.1; no
``redis-cli``) on free loopback ports, each server in its own temporary directory, with
``--save ''``, ``--appendonly no`` (``extra_args`` may override) and
``--repl-diskless-sync-delay 0`` so that replicas sync at once; a failed ``start()`` and
``close()`` stop every process they started and remove every directory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.cluster

from worqr.testing._topology import (
    HOST,
    MIN_TIMEOUT_MS,
    SLOTS,
    AdminClients,
    Role,
    TopologyError,
    check_int,
    free_ports,
    info_field,
    new_server,
    remaining,
    start,
    wait_until,
)
from worqr.testing.server import RedisServer


@dataclass(frozen=True)
class _NodeEntry:
    """One line of ``CLUSTER NODES``."""

    node_id: str
    flags: frozenset[str]
    primary_id: str | None
    slots: tuple[tuple[int, int], ...]

    @property
    def role(self) -> Role:
        return "primary" if self.flags & {"master", "primary"} else "replica"


def _parse_cluster_nodes(text: str) -> dict[str, _NodeEntry]:
    entries: dict[str, _NodeEntry] = {}
    for line in text.strip().splitlines():
        fields = line.split()
        slots: list[tuple[int, int]] = []
        for item in fields[8:]:
            if item.startswith("["):  # an importing / migrating marker, not an owned slot
                continue
            first, _, last = item.partition("-")
            slots.append((int(first), int(last or first)))
        flags = frozenset(fields[2].split(",")) - {"myself"}
        entries[fields[0]] = _NodeEntry(fields[0], flags, None if fields[3] == "-" else fields[3], tuple(sorted(slots)))
    return entries


class LocalClusterNode:
    """One server of a `LocalCluster`: address, cluster node id, role (as last seen) and its `RedisServer`."""

    def __init__(self, server: RedisServer, bus_port: int) -> None:
        self.server = server
        self.host = HOST
        self.bus_port = bus_port
        self.node_id = ""
        self.role: Role = "primary"
        self.primary_id: str | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def alive(self) -> bool:
        return self.server.process is not None and self.server.process.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new plain (non-cluster) client to this node only; the caller closes it."""
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def __repr__(self) -> str:
        state = self.role if self.alive else "down"
        return f"<LocalClusterNode {self.host}:{self.port} {self.node_id[:8]} {state}>"


class LocalCluster:
    """A real local Redis Cluster: ``primaries`` primaries sharing the 16384 slots evenly, each
    with ``replicas`` replicas, formed with CLUSTER ADDSLOTSRANGE / MEET / REPLICATE.

    Every node runs with ``cluster-enabled yes``, its own ``nodes.conf`` in its own directory, a
    cluster bus on its own free port, and ``cluster-node-timeout`` = ``node_timeout_ms`` (default
    1000 ms: a killed primary is replaced in about 2-4 s). ``extra_args`` go to every node, last.

    "Healthy" means: every live node reports ``cluster_state:ok``, knows every other live node
    with no ``fail``/``fail?``/``handshake``/``noaddr`` flag, all live nodes agree on which node
    serves each slot and on each live node's role and primary, no slot is served by a dead node,
    and every live replica's link to its primary is up.
    """

    def __init__(
        self,
        primaries: int = 3,
        replicas: int = 1,
        *,
        node_timeout_ms: int = 1000,
        extra_args: Sequence[str] = (),
    ) -> None:
        check_int("primaries", primaries, 1)
        check_int("replicas", replicas, 0)
        check_int("node_timeout_ms", node_timeout_ms, MIN_TIMEOUT_MS)
        self.primary_count = primaries
        self.replica_count = replicas
        self.node_timeout_ms = node_timeout_ms
        self.extra_args = list(extra_args)
        self.nodes: list[LocalClusterNode] = []
        #: The primaries' addresses at start; stays the same after failovers (a client skips dead ones).
        self.startup_nodes: list[tuple[str, int]] = []
        self._admin = AdminClients()
        self._clients: list[redis.cluster.RedisCluster] = []

    @property
    def url(self) -> str:
        """``redis+cluster://host:port,host:port,...`` with the `startup_nodes`."""
        return "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in self.startup_nodes)

    # ----------------------------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 30.0) -> None:
        """Start the nodes, form the cluster and wait until it is healthy (all within ``timeout``)."""
        if self.nodes:
            raise RuntimeError("this LocalCluster was already started")
        deadline = time.monotonic() + timeout
        try:
            self._launch(deadline)
            self._form(deadline)
        except BaseException:
            self.close()
            raise
        self.startup_nodes = [node.address for node in self.nodes[: self.primary_count]]

    def _launch(self, deadline: float) -> None:
        count = self.primary_count * (1 + self.replica_count)
        ports = free_ports(2 * count)  # all at once, so that no two are the same
        for port, bus_port in zip(ports[:count], ports[count:], strict=True):
            server = new_server(port, [
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--cluster-port", str(bus_port),
                *self.extra_args,
            ])  # fmt: skip
            node = LocalClusterNode(server, bus_port)
            self.nodes.append(node)
            start(server, "a cluster node", remaining(deadline))
            try:
                node.node_id = str(self._admin.run(node.port, "CLUSTER", "MYID"))
            except redis.ResponseError as exc:
                msg = f"{server.binary} on port {server.port} does not run in cluster mode: {exc}"
                raise TopologyError(msg) from exc

    def _form(self, deadline: float) -> None:
        primaries, replicas = self.nodes[: self.primary_count], self.nodes[self.primary_count :]
        for epoch, node in enumerate(self.nodes, start=1):  # distinct epochs: no collisions to resolve
            self._admin.run(node.port, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
        for index, node in enumerate(primaries):
            first = index * SLOTS // len(primaries)
            last = (index + 1) * SLOTS // len(primaries) - 1
            self._admin.run(node.port, "CLUSTER", "ADDSLOTSRANGE", first, last)
        for node in self.nodes[1:]:
            self._admin.run(self.nodes[0].port, "CLUSTER", "MEET", node.host, node.port, node.bus_port)
        wait_until(self._meeting_problem, remaining(deadline), "the cluster nodes did not all meet")
        for index, node in enumerate(replicas):
            primary = primaries[index % len(primaries)]
            self._admin.run(node.port, "CLUSTER", "REPLICATE", primary.node_id)
        self.wait_healthy(remaining(deadline))

    def _meeting_problem(self) -> str | None:
        ids = {node.node_id for node in self.nodes}
        for node in self.nodes:
            view = self._view(node)
            for node_id in ids:
                entry = view.get(node_id)
                if entry is None:
                    return f"{node!r} does not know {node_id[:8]} yet"
                if entry.flags & {"handshake", "noaddr"}:
                    return f"{node!r} is still in handshake with {node_id[:8]}"
        return None

    def close(self) -> None:
        """Close the clients made by `client`, stop every node and remove their directories."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._admin.close()
        for node in self.nodes:
            node.server.close()

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------- queries

    def client(self, **kwargs: Any) -> redis.cluster.RedisCluster:
        """A plain redis-py cluster client on the `startup_nodes`; closed by `close` if not before."""
        startup = [redis.cluster.ClusterNode(host, port) for host, port in self.startup_nodes]  # type: ignore[no-untyped-call]
        client = redis.cluster.RedisCluster(startup_nodes=startup, **kwargs)
        self._clients.append(client)
        return client

    def live_nodes(self) -> list[LocalClusterNode]:
        return [node for node in self.nodes if node.alive]

    def primaries(self) -> list[LocalClusterNode]:
        """The live nodes that are primaries now (each asked with ROLE)."""
        self._refresh_roles()
        return [node for node in self.live_nodes() if node.role == "primary"]

    def replicas(self) -> list[LocalClusterNode]:
        """The live nodes that are replicas now (each asked with ROLE); ``primary_id`` says of which primary."""
        self._refresh_roles()
        return [node for node in self.live_nodes() if node.role == "replica"]

    def node_by_id(self, node_id: str) -> LocalClusterNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(f"no node of this cluster has id {node_id!r}")

    def slot_of(self, key: str) -> int:
        """The hash slot of ``key`` (CLUSTER KEYSLOT, so hash tags count)."""
        return int(self._admin.run(self._any_live().port, "CLUSTER", "KEYSLOT", key))

    def owner_of(self, slot: int) -> LocalClusterNode:
        """The node that serves ``slot``, as a live primary sees it."""
        self._check_slot(slot)
        view = self._view(self._any_live("primary"))
        for entry in view.values():
            if entry.role == "primary" and any(first <= slot <= last for first, last in entry.slots):
                return self.node_by_id(entry.node_id)
        raise TopologyError(f"no node serves slot {slot}")

    def primary_for(self, key: str) -> LocalClusterNode:
        """The primary that serves ``key``."""
        return self.owner_of(self.slot_of(key))

    def slots_of(self, node: LocalClusterNode) -> list[tuple[int, int]]:
        """The slot ranges ``node`` serves, as a live primary sees it."""
        entry = self._view(self._any_live("primary")).get(node.node_id)
        return list(entry.slots) if entry is not None and entry.role == "primary" else []

    def _any_live(self, role: Role | None = None) -> LocalClusterNode:
        for node in self.live_nodes():
            if role is None or node.role == role:
                return node
        raise TopologyError(f"no live {role or 'node'} in the cluster")

    def _view(self, node: LocalClusterNode) -> dict[str, _NodeEntry]:
        return _parse_cluster_nodes(str(self._admin.run(node.port, "CLUSTER", "NODES")))

    def _refresh_roles(self) -> None:
        by_port = {node.port: node for node in self.nodes}
        for node in self.live_nodes():
            reply = self._admin.run(node.port, "ROLE")
            if reply[0] in ("master", "primary"):
                node.role, node.primary_id = "primary", None
            else:
                node.role = "replica"
                primary = by_port.get(int(reply[2]))
                node.primary_id = primary.node_id if primary is not None else None

    # ------------------------------------------------------------------------------------- health

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until the cluster is healthy (see the class docstring); else raise `TopologyError`."""
        wait_until(self._health_problem, timeout, "the cluster did not become healthy")
        self._refresh_roles()

    def _health_problem(self) -> str | None:
        live = self.live_nodes()
        live_ids = {node.node_id for node in live}
        shapes: dict[str, object] = {}
        for node in live:
            if info_field(str(self._admin.run(node.port, "CLUSTER", "INFO")), "cluster_state") != "ok":
                return f"{node!r} does not report cluster_state:ok"
            view = self._view(node)
            for node_id in live_ids:
                entry = view.get(node_id)
                if entry is None:
                    return f"{node!r} does not know {node_id[:8]}"
                bad = entry.flags & {"fail", "fail?", "handshake", "noaddr"}
                if bad:
                    return f"{node!r} flags {node_id[:8]} as {','.join(sorted(bad))}"
            slot_map = sorted(
                (first, last, entry.node_id)
                for entry in view.values() if entry.role == "primary" for first, last in entry.slots
            )  # fmt: skip
            dead_owners = {owner for _, _, owner in slot_map} - live_ids
            if dead_owners:
                return f"{node!r} has slots served by dead node(s) {sorted(o[:8] for o in dead_owners)}"
            roles = sorted((node_id, view[node_id].role, view[node_id].primary_id) for node_id in live_ids)
            shapes[node.node_id] = (slot_map, roles)
            if view[node.node_id].role == "replica":
                link = self._admin(node.port).info("replication").get("master_link_status")
                if link != "up":
                    return f"replica {node!r} has master_link_status:{link}"
        distinct = {repr(shape) for shape in shapes.values()}
        if len(distinct) > 1:
            return f"the live nodes do not yet agree on the slot map and roles ({len(distinct)} versions)"
        return None

    # ----------------------------------------------------------------------------------- failures

    def fail_over(self, primary: LocalClusterNode, timeout: float = 30.0) -> LocalClusterNode:
        """SIGKILL ``primary``; wait until one of its replicas is promoted and the cluster is
        healthy again; return the promoted node. Needs a live replica of ``primary`` and, without
        it, a majority of the slot-serving primaries alive (they vote)."""
        self._check_member(primary)
        candidates = [node for node in self.replicas() if node.primary_id == primary.node_id]
        if primary.role != "primary" or not candidates:
            raise ValueError(f"fail_over needs a live primary with a live replica, got {primary!r}")
        voters = [node for node in self.primaries() if self.slots_of(node)]
        if 2 * (len(voters) - 1) <= len(voters):
            raise ValueError(f"fail_over needs a majority of {len(voters)} primaries alive without {primary!r}")
        deadline = time.monotonic() + timeout
        primary.server.stop()
        promoted: list[LocalClusterNode] = []

        def promotion_problem() -> str | None:
            for node in candidates:
                if self._admin.run(node.port, "ROLE")[0] in ("master", "primary"):
                    promoted.append(node)
                    return None
            return f"no replica of {primary!r} is a primary yet"

        wait_until(promotion_problem, remaining(deadline), f"no replica took over from {primary!r}")
        self.wait_healthy(remaining(deadline))
        return promoted[0]

    def restart(self, node: LocalClusterNode, timeout: float = 30.0) -> None:
        """Start a killed ``node`` again (same port, same ``nodes.conf``) and wait until the cluster
        is healthy with it; a former primary whose slots were taken over rejoins as a replica."""
        self._check_member(node)
        if node.alive:
            raise ValueError(f"restart is for a killed node; {node!r} is running")
        deadline = time.monotonic() + timeout
        start(node.server, "a restarted cluster node", remaining(deadline))
        self.wait_healthy(remaining(deadline))

    def move_slot(self, slot: int, to_primary: LocalClusterNode, timeout: float = 30.0) -> None:
        """Migrate ``slot`` and its keys live to ``to_primary``: SETSLOT IMPORTING on the target,
        MIGRATING on the source, MIGRATE the keys in batches of 100, then SETSLOT NODE on the
        target, the source and the other primaries; wait until the cluster is healthy."""
        self._check_member(to_primary)
        self._check_slot(slot)
        self._refresh_roles()
        if not to_primary.alive or to_primary.role != "primary":
            raise ValueError(f"move_slot needs a live primary to move to, got {to_primary!r}")
        source = self.owner_of(slot)
        if source is to_primary:
            raise ValueError(f"slot {slot} is already served by {to_primary!r}")
        deadline = time.monotonic() + timeout
        self._admin.run(to_primary.port, "CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        self._admin.run(source.port, "CLUSTER", "SETSLOT", slot, "MIGRATING", to_primary.node_id)
        while keys := self._admin.run(source.port, "CLUSTER", "GETKEYSINSLOT", slot, 100):
            self._admin.run(source.port, "MIGRATE", to_primary.host, to_primary.port, "", 0, 5000, "KEYS", *keys)
        others = [node for node in self.primaries() if node not in (to_primary, source)]
        for node in [to_primary, source, *others]:
            self._admin.run(node.port, "CLUSTER", "SETSLOT", slot, "NODE", to_primary.node_id)
        self.wait_healthy(remaining(deadline))

    def _check_member(self, node: LocalClusterNode) -> None:
        if node not in self.nodes:
            raise ValueError(f"{node!r} is not a node of this cluster")

    @staticmethod
    def _check_slot(slot: int) -> None:
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < SLOTS:
            raise ValueError(f"slot must be an int in 0..{SLOTS - 1}, got {slot!r}")
