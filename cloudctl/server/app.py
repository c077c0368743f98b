"""The API server (aiohttp's low-level ``web.Server``) and the process model of
``cloudctl up``.

One API process = one event loop = one ``Cloud``, started before the listener and
stopped after it. ``serve`` binds the listening
socket once and forks ``workers`` processes that share it; the parent supervises
them and forwards SIGINT/SIGTERM for a clean shutdown.

The cloud is *ready* once every worker serves (worker 0 serves only after it has
registered the local node): until then any worker's health check answers 503
``starting`` and ``cloudctl up`` has not printed "cloud is up", so a client that waits
for either never meets a cloud without its node (InsufficientInstanceCapacity).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import io
import logging
import mmap
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import HttpVersion11, hdrs, web

from cloudctl.config import Settings
from cloudctl.properties import definitions as core_props
from cloudctl.server import eventloop, memdebug, memory
from cloudctl.server.cloud import Cloud
from cloudctl.server.dispatch import handle
from cloudctl.server.guard import GuardedListener
from cloudctl.server.roles import Role

log = logging.getLogger("cloudctl.server")

Assembler = Callable[[Cloud], None]


READ_BUFSIZE = 1 << 16  # before authentication; uploads get dispatch.UPLOAD_BUFSIZE
PROFILE_ENV = "CLOUDCTL_PROFILE"  # a path: each worker writes cProfile stats to <path>.<pid>
MAX_FIELD_SIZE = 65536
PR_SET_PDEATHSIG = 1
ORPHAN_GRACE = 2  # seconds an orphaned worker may spend finishing requests
STOP_GRACE = 14  # seconds a stopping worker may spend (aiohttp's shutdown timeout is 10)
STACKS_BEFORE = 2  # seconds before STOP_GRACE runs out: the tasks still pending are logged


NOT_SERVED = ("this host runs the cloud's controllers only (cloudctl up --role controllers):"
              " send API requests to an API host or the entry point")


class Readiness:
    """Whether every worker of this ``cloudctl up`` serves: one byte of memory shared by
    the parent and the workers it forks (set by the parent, read by each worker's health
    check), and a pipe on which each worker reports that it serves."""

    def __init__(self) -> None:
        self._flag = mmap.mmap(-1, 1)  # anonymous and MAP_SHARED: forked workers see it
        self._read, self._write = os.pipe()

    @property
    def ready(self) -> bool:
        return self._flag[0] == 1

    def set_ready(self) -> None:
        self._flag[0] = 1

    def report_serving(self) -> None:
        """In a worker: one byte to the parent."""
        os.write(self._write, b"s")

    def await_workers(self, workers: int, then: Callable[[], Any] | None) -> None:
        """In the parent: a thread that counts the workers' reports, then sets the flag
        and calls ``then`` (a restarted worker's later report is drained and ignored)."""
        def count() -> None:
            seen = 0
            while True:
                try:
                    chunk = os.read(self._read, 64)
                except OSError:
                    return
                if not chunk:
                    return
                seen += len(chunk)
                if seen >= workers and not self.ready:
                    self.set_ready()
                    if then is not None:
                        then()

        threading.Thread(target=count, name="workers-ready", daemon=True).start()


HEALTH_PATH = "/_cloud/health"
HEAD_METHODS = ("GET", "HEAD")


def _health(cloud: Cloud, up: bool) -> web.Response:
    """``up``: every worker of the cloud serves; until then 503 ``starting``."""
    status = ("ok" if cloud.serving else "disabled") if up else "starting"
    return web.json_response({"status": status,
                              "region": cloud.region,
                              "worker": cloud.worker_index, "pid": os.getpid(),
                              "role": str(cloud.role),
                              "controllers": cloud.runs_controllers,
                              "tasks": cloud.task_names()},
                             status=200 if up and cloud.serving else 503)


async def _expect(request: web.BaseRequest) -> None:
    """``Expect:`` as aiohttp's router answers it: ``100 Continue`` for HTTP/1.1's
    ``100-continue``, ``417`` for any other expectation."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version == HttpVersion11:
        if expect.lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer's own body has not started
    await request.writer.drain()


def make_server(cloud: Cloud, role: Role = Role.ALL,
                ready: Callable[[], bool] = lambda: True) -> web.Server:
    """The API of one process as aiohttp's low-level server: every request goes to
    :func:`dispatch.handle` without ``web.Application``'s router, match info and
    middleware chain (one path, one handler); the health check is the only other
    route. A ``controllers`` host answers only its health check (503 otherwise).
    ``ready``: whether every worker of the cloud serves (the health check's answer)."""

    async def serve_request(request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/"):
            raise web.HTTPNotFound()  # what the router answered: no route matches
        if request.headers.get(hdrs.EXPECT):
            await _expect(request)
        if path == HEALTH_PATH and request.method in HEAD_METHODS:
            return _health(cloud, ready())
        if not role.serves_api:
            return web.Response(status=503, text=NOT_SERVED + "\n")
        return await handle(cloud, request)

    return web.Server(serve_request)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def raise_fd_limit() -> None:
    """Lift the soft open-files limit to the hard one: every client connection is a file
    descriptor, and a slowloris must hit the timeouts, not ``EMFILE`` for everyone."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when the parent dies (Linux ``PR_SET_PDEATHSIG``); a
    parent already gone (it died before the call) ends this worker at once."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Fallback of :func:`die_with_parent` (a kernel without prctl): poll the parent pid."""
    while os.getppid() == parent:
        await asyncio.sleep(1)
    log.warning("parent %d is gone: stopping", parent)
    stop.set()


def _log_pending_tasks() -> None:
    """Log every task still pending with its stack (a stop that overruns its grace)."""
    current = asyncio.current_task()
    for task in asyncio.all_tasks():
        if task is current or task.done():
            continue
        stack = io.StringIO()
        task.print_stack(limit=12, file=stack)
        log.warning("stop still waits for task %s:\n%s", task.get_name(), stack.getvalue())


def _run_worker(settings: Settings, assembler: Assembler, sock: socket.socket, index: int,
                readiness: Readiness, parent: int | None = None,
                started_at: float | None = None, role: Role = Role.ALL,
                on_ready: Callable[[], Any] | None = None,
                on_stuck: Callable[[], Any] | None = None) -> None:
    """One worker's event loop until SIGINT/SIGTERM. It reports that it serves to the
    parent through ``readiness``; the single worker of ``--workers 1`` (no parent) sets
    the flag itself and calls ``on_ready``. A stop that outlasts ``STOP_GRACE`` (a
    thread stuck in a call that cannot be interrupted) ends a forked worker (its parent
    cleans up) or, for the single worker, runs ``on_stuck`` (the host's own clean-up:
    the private libvirtd, ZooKeeper) and exits."""
    memory.bound_allocator()

    async def main() -> None:
        memdebug.install(asyncio.get_running_loop())
        cloud = Cloud(settings, worker_index=index, started_at=started_at, role=role)
        assembler(cloud)
        await cloud.start()
        runner = web.ServerRunner(make_server(cloud, role, lambda: readiness.ready),
                                  handle_signals=False, shutdown_timeout=10)
        await runner.setup()
        address = sock.getsockname()
        cloud.endpoint = f"http://{address[0]}:{address[1]}"

        def timeouts() -> tuple[float, float, float]:
            get = cloud.properties.get
            return (float(get(core_props.HEADER_TIMEOUT)),
                    float(get(core_props.BODY_IDLE_TIMEOUT)),
                    float(get(core_props.KEEPALIVE_TIMEOUT)))

        # read_bufsize: a request body is buffered up to twice this (plus one socket
        # read of up to 256 KiB) before the socket is paused: what a connection may hold
        # before its request is authenticated. An authenticated S3 upload raises it
        # (dispatch) so large bodies do not pause and resume reading every 128 KiB.
        # aiohttp's own body readers (request.read/post/json) keep their 1 MiB default
        # limit, which nothing here uses: dispatch reads request bodies from
        # request.content under bootstrap.webservices.max_request_bytes, or streams S3
        # uploads without holding them. auto_decompress off: S3 stores a
        # Content-Encoding: gzip object as sent; the query and JSON services' compressed
        # bodies are opened in dispatch, after the signature.
        listener = GuardedListener(runner, sock, timeouts, access_log=None,
                                   max_field_size=MAX_FIELD_SIZE, read_bufsize=READ_BUFSIZE,
                                   auto_decompress=False)
        await listener.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        watch = loop.create_task(_watch_parent(parent, stop)) if parent else None
        log.info("worker %d (pid %d, role %s, event loop %s) serving", index, os.getpid(),
                 role, eventloop.kind_of(loop))
        memory.freeze_startup_heap()
        memory.space_young_collections()
        if parent:
            readiness.report_serving()
        elif not readiness.ready:
            readiness.set_ready()
            if on_ready:
                on_ready()
        await stop.wait()
        if watch is not None:
            watch.cancel()
        if parent and os.getppid() != parent:
            # orphaned (the parent was killed): in-flight requests get a short grace, then
            # the kernel ends this worker (SIGALRM's default action) whatever cleanup is doing
            log.warning("parent %d is gone: exiting within %ds", parent, ORPHAN_GRACE)
            signal.alarm(ORPHAN_GRACE)
        else:
            # a worker's stop is bounded (forked or the single worker of --workers 1):
            # connections get aiohttp's shutdown timeout, and a cleanup still waiting after
            # STOP_GRACE (a wedged thread or task, a Ceph call that cannot be interrupted,
            # which asyncio.run's executor shutdown would wait for) does not hold the
            # host; everything acknowledged is already durable
            if not parent:
                signal.signal(signal.SIGALRM, lambda _n, _f: _abandon(on_stuck))
            signal.alarm(STOP_GRACE)
            loop.call_later(STOP_GRACE - STACKS_BEFORE, _log_pending_tasks)
        await listener.stop()
        await runner.cleanup()
        await cloud.stop()

    # the stop's alarm stays armed until the run has also waited for the default
    # executor's threads (a thread in a blocking call is waited for there)
    profile_to = os.environ.get(PROFILE_ENV)
    if not profile_to:
        eventloop.run(main, settings.event_loop)
        signal.alarm(0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        return
    import cProfile

    profiler = cProfile.Profile()
    try:
        profiler.runcall(eventloop.run, main, settings.event_loop)
        signal.alarm(0)
    finally:
        profiler.dump_stats(f"{profile_to}.{os.getpid()}")


def _abandon(on_stuck: Callable[[], Any] | None) -> None:
    """The single worker's stop outlasted its grace: clean up the host, then exit
    without waiting for the stuck thread (the interpreter's exit would join it)."""
    log.error("the stop did not finish within %ds (a thread is stuck in a blocking call): "
              "exiting without it", STOP_GRACE)
    try:
        if on_stuck is not None:
            on_stuck()
    finally:
        logging.shutdown()
        os._exit(1)


def serve(settings: Settings, assembler: Assembler, host: str, port: int, workers: int = 1,
          on_ready: Callable[[], Any] | None = None,
          prepare: Callable[[], None] | None = None, role: Role = Role.ALL,
          on_stuck: Callable[[], Any] | None = None) -> int:
    """Run the API in the foreground until SIGINT/SIGTERM; returns an exit status.

    ``assembler`` installs the services into each process's ``Cloud`` (the composition
    root: ``cloudctl.services.catalog.assemble``); the server knows no service.
    ``prepare`` runs in the parent before it forks workers (``catalog.preload``).
    ``role``: what this host is for (``cloudctl.server.roles``); every worker shares it.
    ``on_stuck``: the caller's clean-up, run before a single worker whose stop is stuck
    exits (``_run_worker``); with forked workers the caller's own ``finally`` runs.
    ``settings.event_loop``: the workers' loop (``eventloop``); one that cannot be made
    here raises :class:`eventloop.MissingLoop` before anything is bound."""
    eventloop.loop_factory(settings.event_loop)
    raise_fd_limit()
    started_at = time.time()
    sock = bind(host, port)
    log.info("listening on %s:%d with %d worker(s)", host, sock.getsockname()[1], workers)
    readiness = Readiness()
    if workers <= 1:
        _run_worker(settings, assembler, sock, 0, readiness, started_at=started_at, role=role,
                    on_ready=on_ready, on_stuck=on_stuck)
        return 0
    children: dict[int, int] = {}
    parent = os.getpid()
    if prepare is not None:
        prepare()  # loaded once here, shared by the forked workers

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            die_with_parent(parent)
            code = 0
            try:
                _run_worker(settings, assembler, sock, index, readiness, parent, started_at,
                            role)
            except BaseException:
                log.exception("worker %d crashed", index)
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        children[pid] = index

    for index in range(workers):
        spawn(index)
    readiness.await_workers(workers, on_ready)  # after the forks: they copy no thread
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, -1)
        if not stopping and index >= 0:
            log.warning("worker %d exited (%s); restarting", index, status)
            time.sleep(0.5)
            spawn(index)
    sock.close()
    return 0


def configure_logging(level: str = "INFO") -> None:
    """Readable one-line logs on stderr."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
