"""The node agent's HTTP/JSON service (API v1) over mutual TLS.

Owns the routes that expose one ``NodeClient`` (normally a ``LocalNodeClient``)
to the controller; ``nodectl.remote.RemoteNodeClient`` is the other end:

    GET    /v1/node                              -> NodeInfo
    GET    /v1/instances                         -> {"instances": [InstanceStatus]}
    GET    /v1/stats                             -> NodeStats (every guest's counters)
    PUT    /v1/instances/{id}           spec     -> InstanceStatus   (ensure)
    POST   /v1/instances/{id}/stop      {force}  -> InstanceStatus
    POST   /v1/instances/{id}/reboot             -> 204
    DELETE /v1/instances/{id}                    -> 204
    GET    /v1/instances/{id}/console            -> {"output": str}
    PUT    /v1/instances/{id}/volumes/{vol}  VolumeSpec -> 204
    DELETE /v1/instances/{id}/volumes/{vol}      -> 204

Errors are ``{"error": {"code", "message", "retryable"}}`` (``nodectl.wire``).
TLS (``nodectl.tls.server_context``) requires a client certificate from the cloud
CA, and every request is refused (403 ``AccessDenied``) unless that certificate is
the controller's (``nodectl.tls.client_identity`` in ``CONTROLLER_IDENTITIES``):
other certificates the CA signs (services, users' bundle certificates) get nothing.
It never imports the controller.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from nodectl.client import API_VERSION, InstanceSpec, NicSpec, NodeClient, NodeError
from nodectl.stats import node_stats_to_json
from nodectl.tls import CONTROLLER_IDENTITIES, client_identity
from nodectl.wire import error_body, error_status, status_to_json, volume_from_json

__all__ = ["NODE", "build_app", "run_agent", "start_agent"]

log = logging.getLogger(__name__)
NODE = web.AppKey("node", NodeClient)
CLIENTS = web.AppKey("clients", frozenset)
PREFIX = f"/{API_VERSION}"
MAX_BODY = 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bad(message: str) -> NodeError:
    return NodeError(message, retryable=False, code="InvalidParameter")


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except NodeError as exc:
        if exc.retryable:
            log.warning("%s %s: %s", request.method, request.path, exc)
        return web.json_response(error_body(exc), status=error_status(exc))
    except web.HTTPException:
        raise
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        err = NodeError(f"internal error: {type(exc).__name__}: {exc}", retryable=True)
        return web.json_response(error_body(err), status=500)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _bad("body must be a JSON object")
    return data


def _node(request: web.Request) -> NodeClient:
    return request.app[NODE]


async def _node_info(request: web.Request) -> web.Response:
    info = await _node(request).node_info()
    return web.json_response({"name": info.name, "address": info.address, "cores": info.cores,
                              "memory_mib": info.memory_mib, "virt_type": info.virt_type,
                              "netns": info.netns, "version": info.version,
                              "extra": info.extra})


async def _list(request: web.Request) -> web.Response:
    statuses = await _node(request).list_instances()
    return web.json_response({"instances": [status_to_json(s) for s in statuses]})


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(node_stats_to_json(await _node(request).guest_stats()))


async def _ensure(request: web.Request) -> web.Response:
    iid = request.match_info["id"]
    data = await _json(request)
    try:
        spec = InstanceSpec.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(f"not an instance spec: {exc}") from exc
    if spec.instance_id != iid:
        raise _bad(f"spec is for {spec.instance_id}, not {iid}")
    return web.json_response(status_to_json(await _node(request).ensure_instance(spec)))


async def _stop(request: web.Request) -> web.Response:
    data = await _json(request) if request.can_read_body else {}
    status = await _node(request).stop_instance(request.match_info["id"],
                                                force=bool(data.get("force", False)))
    return web.json_response(status_to_json(status))


async def _reboot(request: web.Request) -> web.Response:
    await _node(request).reboot_instance(request.match_info["id"])
    return web.Response(status=204)


async def _delete(request: web.Request) -> web.Response:
    await _node(request).delete_instance(request.match_info["id"])
    return web.Response(status=204)


async def _console(request: web.Request) -> web.Response:
    return web.json_response({"output": await _node(request).console_output(
        request.match_info["id"])})


async def _attach(request: web.Request) -> web.Response:
    data = await _json(request)
    try:
        volume = volume_from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(f"not a volume spec: {exc}") from exc
    if volume.volume_id != request.match_info["vol"]:
        raise _bad(f"spec is for {volume.volume_id}, not {request.match_info['vol']}")
    await _node(request).attach_volume(request.match_info["id"], volume)
    return web.Response(status=204)


async def _nics(request: web.Request) -> web.Response:
    data = await _json(request)
    try:
        nics = tuple(NicSpec(**n) for n in data["nics"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(f"not a NIC list: {exc}") from exc
    await _node(request).ensure_nics(request.match_info["id"], nics)
    return web.Response(status=204)


async def _detach(request: web.Request) -> web.Response:
    await _node(request).detach_volume(request.match_info["id"], request.match_info["vol"])
    return web.Response(status=204)


@web.middleware
async def _controller_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Over TLS, only a client certificate naming an allowed identity gets in."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is not None:
        who = client_identity(ssl_object)
        if who not in request.app[CLIENTS]:
            log.warning("refused %s %s from %s (client certificate %s)", request.method,
                        request.path, request.remote, who or "not for client use")
            exc = NodeError("this client certificate is not the cloud controller's",
                            retryable=False, code="AccessDenied")
            return web.json_response(error_body(exc), status=error_status(exc))
    return await handler(request)


def build_app(node: NodeClient,
              clients: frozenset[str] = CONTROLLER_IDENTITIES) -> web.Application:
    """The agent's aiohttp application serving ``node`` to the ``clients`` identities."""
    app = web.Application(middlewares=[_controller_only, _errors], client_max_size=MAX_BODY)
    app[NODE] = node
    app[CLIENTS] = clients
    r = app.router
    r.add_get(f"{PREFIX}/node", _node_info)
    r.add_get(f"{PREFIX}/instances", _list)
    r.add_get(f"{PREFIX}/stats", _stats)
    r.add_put(f"{PREFIX}/instances/{{id}}", _ensure)
    r.add_delete(f"{PREFIX}/instances/{{id}}", _delete)
    r.add_post(f"{PREFIX}/instances/{{id}}/stop", _stop)
    r.add_post(f"{PREFIX}/instances/{{id}}/reboot", _reboot)
    r.add_get(f"{PREFIX}/instances/{{id}}/console", _console)
    r.add_put(f"{PREFIX}/instances/{{id}}/volumes/{{vol}}", _attach)
    r.add_delete(f"{PREFIX}/instances/{{id}}/volumes/{{vol}}", _detach)
    r.add_put(f"{PREFIX}/instances/{{id}}/nics", _nics)
    return app


async def start_agent(node: NodeClient, host: str, port: int,
                      ssl_context: ssl.SSLContext | None) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (``await runner.cleanup()`` stops) and the port."""
    runner = web.AppRunner(build_app(node), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    addresses = runner.addresses
    bound = int(addresses[0][1]) if addresses else port
    return runner, bound


async def run_agent(node: NodeClient, host: str, port: int,
                    ssl_context: ssl.SSLContext | None,
                    on_ready: Callable[[int], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM."""
    runner, bound = await start_agent(node, host, port, ssl_context)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        on_ready(bound)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
