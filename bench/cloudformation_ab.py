"""A/B of the stack engine: two git worktrees' clouds started in turn (the one going
first alternating by round), each running ``bench.cloudformation``'s stack of N
independent resources (created, then deleted) and the same resources made one call
after another by a client, and (``--instances``) its stack of instances waited for.

Per tree and N: median wall time of the stack's create and delete, server CPU per
resource (create + delete, and create alone), the time from CreateStack's answer to the
engine's first resource event, and the stack's create speed-up over the sequential
client (both on that tree's cloud): of the medians, and round by round (the sequential
client's time over the stack's, same cloud, same round; a loaded host moves both).
``--stacks K``: K stacks of each N a cloud and round (their medians are the round's).
``--poll``: seconds between the waiting client's DescribeStacks (default
``bench.cloudformation.POLL``).

Run: ``python -m bench.cloudformation_ab --old <worktree> --new <worktree>
[--rounds 5] [--stacks 3] [--poll 0.01] [--db sqlite] [--section <name>]``; prints one JSON line per tree and
round, then the results section (written to bench/results/cloudformation.md under
``--section`` when given).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench import cloudformation
from bench.cloudformation import instances_round, sequential_round, stack_round
from bench.common import alternate, start_cloud
from bench.load import start_database
from bench.results_sections import write_section

Runs = dict[tuple[str, str], list[dict[str, float]]]


def one_cloud(tree: str, db: str, counts: list[int], instances: int,
              stacks: int = 1) -> dict[str, Any]:
    """Start ``tree``'s cloud (one worker) and measure every case once. The cloud runs
    in ``tree`` (``python -m`` puts the working directory first on the path: started
    from another worktree, the cloud would import that one's code)."""
    os.environ["PYTHONPATH"] = tree
    os.chdir(tree)
    url, pg = start_database(db)
    if url:
        os.environ["CLOUDCTL_DATABASE_URL"] = url
    server = start_cloud(1)
    region = "eucalyptus"
    out: dict[str, Any] = {}
    try:
        stack_round(server, region, 20)  # warm: imports, caches, the stack path
        for count in counts:
            made = [stack_round(server, region, count) for _ in range(stacks)]
            out[f"stack{count}"] = {key: statistics.median(m[key] for m in made)
                                    for key in made[0]}
            out[f"seq{count}"] = sequential_round(server, region, count)
        if instances:
            out["instances"] = instances_round(server, region, instances)
    finally:
        server.stop()
        os.environ.pop("CLOUDCTL_DATABASE_URL", None)
        if pg is not None:
            pg.stop()
    return out


def _med(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _runs(rows: list[dict[str, float]], key: str, scale: float = 1.0,
          digits: int = 2) -> str:
    return ", ".join(f"{scale * r[key]:.{digits}f}" for r in rows)


def report(runs: dict[str, list[dict[str, Any]]], trees: dict[str, str], db: str,
           counts: list[int], instances: int, loads: list[str]) -> str:
    lines = [
        f"### {db}: stack of N independent resources vs one call after another",
        "",
        "| tree | N | stack create s | completed s | start ms | stack delete s "
        "| stack CPU ms/resource | create CPU ms/resource | sequential create s "
        "| sequential CPU ms/resource | create speed-up (medians) "
        "| speed-up round by round (median) | to completion, round by round (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for count in counts:
        for label in trees:
            stack = [r[f"stack{count}"] for r in runs[label]]
            seq = [r[f"seq{count}"] for r in runs[label]]
            ratios = [q["create_s"] / k["create_s"] for q, k in zip(seq, stack, strict=True)]
            done = [q["create_s"] / k["complete_s"] for q, k in zip(seq, stack, strict=True)]
            lines.append(
                f"| {label} | {count} | {_med(stack, 'create_s'):.3f} | "
                f"{_med(stack, 'complete_s'):.3f} | {1000 * _med(stack, 'start_s'):.0f} | "
                f"{_med(stack, 'delete_s'):.2f} | {1000 * _med(stack, 'cpu_s') / count:.1f} | "
                f"{1000 * _med(stack, 'create_cpu_s') / count:.2f} | "
                f"{_med(seq, 'create_s'):.2f} | {1000 * _med(seq, 'cpu_s') / count:.1f} | "
                f"{_med(seq, 'create_s') / _med(stack, 'create_s'):.2f}x | "
                f"{statistics.median(ratios):.2f}x | {statistics.median(done):.2f}x |")
    lines += ["", "`stack create s`: from CreateStack's send to the DescribeStacks answer that "
              "shows CREATE_COMPLETE (the client polls); `completed s`: to the stack's "
              "CREATE_COMPLETE event's time (when the server completed it, same clock).",
              "", "All runs (in round order):", ""]
    for count in counts:
        for label in trees:
            stack = [r[f"stack{count}"] for r in runs[label]]
            seq = [r[f"seq{count}"] for r in runs[label]]
            ratios = [q["create_s"] / k["create_s"] for q, k in zip(seq, stack, strict=True)]
            lines.append(
                f"- {label}, N={count}: stack create s {_runs(stack, 'create_s', 1.0, 3)}; "
                f"completed s {_runs(stack, 'complete_s', 1.0, 3)}; "
                f"start ms {_runs(stack, 'start_s', 1000, 0)}; create CPU ms/resource "
                f"{_runs(stack, 'create_cpu_s', 1000 / count)}; delete s "
                f"{_runs(stack, 'delete_s')}; CPU ms/resource "
                f"{_runs(stack, 'cpu_s', 1000 / count)}; sequential create s "
                f"{_runs(seq, 'create_s')}; CPU ms/resource {_runs(seq, 'cpu_s', 1000 / count)}; "
                f"speed-up round by round {', '.join(f'{r:.1f}x' for r in ratios)}")
    if instances:
        lines += ["", f"Instances (fake node), N={instances}, each waited for until "
                  "`running`: stack create vs RunInstances + wait one after another.", "",
                  "| tree | stack create s | one after another s | speed-up | stack runs s |",
                  "|---|---|---|---|---|"]
        for label in trees:
            rows = [r["instances"] for r in runs[label]]
            lines.append(f"| {label} | {_med(rows, 'stack_s'):.2f} | "
                         f"{_med(rows, 'sequential_s'):.2f} | "
                         f"{_med(rows, 'sequential_s') / _med(rows, 'stack_s'):.2f}x | "
                         f"{_runs(rows, 'stack_s')} |")
    lines += ["", f"1-minute load average after each round: {', '.join(loads)}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--counts", default="20,100")
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--stacks", type=int, default=1,
                        help="stacks of each N a cloud and round (their medians)")
    parser.add_argument("--poll", type=float, default=cloudformation.POLL,
                        help="seconds between the waiting client's DescribeStacks")
    parser.add_argument("--section", default="")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "cloudformation.md"))
    args = parser.parse_args()
    cloudformation.POLL = args.poll
    counts = [int(c) for c in args.counts.split(",")]
    trees = {"old": args.old, "new": args.new}
    texts = []
    for db in args.db.split(","):
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}

        def measure(label: str, db: str = db, runs: dict[str, list[dict[str, Any]]] = runs
                    ) -> None:
            row = one_cloud(trees[label], db, counts, args.instances, args.stacks)
            runs[label].append(row)
            print(json.dumps({"tree": label, "db": db, "at": time.strftime("%H:%M:%S"),
                              **row}), flush=True)

        loads = alternate(args.rounds, lambda: measure("old"), lambda: measure("new"))
        texts.append(report(runs, trees, db, counts, args.instances, loads))
    text = "\n".join(texts)
    print(text)
    if args.section:
        write_section(Path(args.out), args.section, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
