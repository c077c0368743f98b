"""A/B of IAM's server CPU a call, two git worktrees' clouds running side by side.

Both clouds (``cloudctl up --workers 1`` each, SQLite) are up at once and measured in
short alternating blocks (old, new, new, old, ...): a load that comes and goes on a
shared machine falls on both alike, where one tree after the other (``bench.frontdoor_ab``)
compares minutes of different load. CPU is each server's threads' scheduler time
(``/proc/<pid>/task/*/schedstat``, nanoseconds), not the 10 ms clock ticks.

Blocks: CreateUser (100 calls), ListUsers of 1,000 in one page (10 calls), a full
pagination by 100 (4 runs), the first and the last page of 100 (100 calls each), then
DeleteUser of every user (100 calls). The
answer of each block is checked (counts, order, markers) as ``bench.iam_vs_moto`` does.

Run: ``python -m bench.iam_ab --old <worktree> --new <worktree> --rounds 8``; prints
one JSON line per block kind with the medians and every block's figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Callable
from typing import Any

from bench.cloudwatch import start_cloud_of
from bench.common import Server
from bench.iam_vs_moto import USERS, _iam


def cpu_ns(pid: int) -> int:
    """Scheduler CPU time of the process's live threads, nanoseconds."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[0])
        except OSError:  # the thread ended
            continue
    return total


def _block_ms(server: Server, calls: int, step: Callable[[], None]) -> float:
    before = cpu_ns(server.process.pid)
    for _ in range(calls):
        step()
    return (cpu_ns(server.process.pid) - before) / calls / 1e6


class Workload:
    """One cloud's client and its blocks of calls."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.iam = _iam(server)
        self.created = 0
        self.deleted = 0
        self.markers: list[str] = []

    def create(self) -> None:
        self.iam.create_user(UserName=f"bench{self.created:05d}", Path="/bench/")
        self.created += 1

    def delete(self) -> None:
        self.iam.delete_user(UserName=f"bench{self.deleted:05d}")
        self.deleted += 1

    def list_all(self) -> None:
        out = self.iam.list_users(PathPrefix="/bench/", MaxItems=1000)
        assert len(out["Users"]) == USERS and not out["IsTruncated"]

    def paginate(self) -> None:
        names: list[str] = []
        markers: list[str] = []
        for page in self.iam.get_paginator("list_users").paginate(
                PathPrefix="/bench/", PaginationConfig={"PageSize": 100}):
            names += [u["UserName"] for u in page["Users"]]
            if page.get("IsTruncated"):
                markers.append(page["Marker"])
        assert names == sorted(names) and len(names) == USERS
        self.markers = markers

    def page(self, marker: str | None) -> Callable[[], None]:
        kwargs = {"Marker": marker} if marker else {}

        def step() -> None:
            out = self.iam.list_users(PathPrefix="/bench/", MaxItems=100, **kwargs)
            assert len(out["Users"]) == 100
        return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", required=True, help="worktree of the code before")
    parser.add_argument("--new", required=True, help="worktree of the code after")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    servers = {"old": start_cloud_of(args.old), "new": start_cloud_of(args.new)}
    try:
        loads = {name: Workload(server) for name, server in servers.items()}
        for work in loads.values():
            work.iam.list_users()  # warm the connection and the server's caches
        got: dict[str, dict[str, list[float]]] = {name: {} for name in loads}

        def measure(kind: str, calls: int, step_of: Callable[[Workload], Callable[[], None]],
                    n: int) -> None:
            order = ("old", "new") if n % 2 == 0 else ("new", "old")
            for name in order:
                work = loads[name]
                got[name].setdefault(kind, []).append(
                    _block_ms(work.server, calls, step_of(work)))

        for n in range(USERS // 100):
            measure("create_cpu_ms", 100, lambda w: w.create, n)
        for n in range(args.rounds):
            measure("list1000_cpu_ms", 10, lambda w: w.list_all, n)
            measure("paginate_cpu_ms", 4, lambda w: w.paginate, n)
            measure("first_page_cpu_ms", 100, lambda w: w.page(None), n)
            measure("last_page_cpu_ms", 100, lambda w: w.page(w.markers[-1]), n)
        for n in range(USERS // 100):
            measure("delete_cpu_ms", 100, lambda w: w.delete, n)
        load = os.getloadavg()
        for kind in got["old"]:
            row: dict[str, Any] = {"kind": kind}
            for name in ("old", "new"):
                values = got[name][kind]
                row[name] = round(statistics.median(values), 3)
                row[f"{name}_runs"] = [round(v, 3) for v in values]
            row["new/old"] = round(row["new"] / row["old"], 3)
            print(json.dumps(row), flush=True)
        print(json.dumps({"load": [round(v, 2) for v in load]}), flush=True)
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
