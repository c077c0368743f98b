"""What the test suite's process starts cost: ``cloudctl`` commands, ``cloudctl init``
and a cloud's start until its health check answers 200, for one or two source trees
side by side (rounds interleaved, so a busy machine weighs on both alike).

Each figure is the median of a fresh Python process, as the tests start them
(``python -m cloudctl ...`` with the tree on ``PYTHONPATH``): wall seconds, and CPU
seconds (user + system; of a cloud, until it is healthy), which a busy machine moves
less than wall time. Run:
``python -m bench.process_starts [--rounds N] TREE [TREE...]`` (an old tree from
``git worktree add /tmp/old <commit>``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.infra.postgres import free_port

COMMANDS = (("--help",), ("property", "list"), ("node", "list"), ("network", "show"),
            ("credentials",))


def _env(tree: Path, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree), CLOUDCTL_DATA_DIR=str(data_dir))
    env.pop("CLOUDCTL_DATABASE_URL", None)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``argv``."""
    cpu, began = _children_cpu(), time.monotonic()
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=120,
                   cwd=env["PYTHONPATH"])  # ``-m`` imports from the working directory first
    return time.monotonic() - began, _children_cpu() - cpu


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a running process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(tree: Path) -> tuple[tuple[float, float], tuple[float, float],
                               subprocess.Popen[bytes], Path, str]:
    """(init (wall, CPU), start-to-healthy (wall, CPU), process, data dir, endpoint) of a
    new cloud on fake guests in EDGE mode, as tests/support.py starts one."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-starts-"))
    env = _env(tree, data_dir)
    init = _timed([sys.executable, "-m", "cloudctl", "init", "--network-mode", "EDGE"], env)
    port = free_port()
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "cloudctl", "up", "--listen",
                             f"127.0.0.1:{port}", "--workers", "1", "--node", "fake",
                             "--network-mode", "EDGE"], env=env, cwd=tree,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"cloud in {data_dir} exited")
        try:
            with urllib.request.urlopen(f"{endpoint}/_cloud/health", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        time.sleep(0.02)
    return init, (time.monotonic() - began, _cpu_of(proc.pid)), proc, data_dir, endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for tree in args.trees:
            init, start, proc, data_dir, endpoint = _start(tree.resolve())
            figures.setdefault((str(tree), "cloudctl init"), []).append(init)
            figures.setdefault((str(tree), "cloud start to healthy"), []).append(start)
            try:
                env = _env(tree.resolve(), data_dir)
                for command in COMMANDS:
                    argv = [sys.executable, "-m", "cloudctl", "--endpoint", endpoint,
                            "--output", "json", *command]
                    figures.setdefault((str(tree), "cloudctl " + " ".join(command)),
                                       []).append(_timed(argv, env))
            finally:
                reaped, used, began = _children_cpu(), _cpu_of(proc.pid), time.monotonic()
                proc.terminate()
                proc.wait(timeout=30)
                stopped = time.monotonic() - began
                shutil.rmtree(data_dir, ignore_errors=True)
            # the stop's CPU: the process's total (now in the reaped children's usage)
            # less what it had used before SIGTERM
            figures.setdefault((str(tree), "cloud stop (SIGTERM to exit)"), []).append(
                (stopped, _children_cpu() - reaped - used))
    print(f"| what (median wall / CPU) | {' | '.join(str(t) for t in args.trees)} |")
    print(f"|---|{'---|' * len(args.trees)}")
    for what in dict.fromkeys(w for _, w in figures):
        cells = []
        for tree in args.trees:
            runs = figures[(str(tree), what)]
            cells.append(f"{statistics.median(r[0] for r in runs):.3f} s / "
                         f"{statistics.median(r[1] for r in runs):.3f} s")
        print(f"| {what} | {' | '.join(cells)} |")
    print(f"\n{args.rounds} rounds, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
