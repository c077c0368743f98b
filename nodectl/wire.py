"""JSON forms of the contract's types for the agent's HTTP API (v1), both directions.

``InstanceSpec`` has its own ``to_json``/``from_json`` in ``nodectl.client``; this
module adds the others and the error body ``{"error": {"code", "message",
"retryable"}}`` with the HTTP status for each error code.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from nodectl.client import InstanceStatus, NodeError, NodeInfo, VolumeSpec

__all__ = ["error_body", "error_from_body", "error_status", "info_from_json", "status_from_json",
           "status_to_json", "volume_from_json", "volume_to_json"]

_STATUS = {"InstanceNotFound": 404, "InvalidParameter": 400, "VolumeInUse": 409, "AccessDenied": 403,
           "ImageStagingFailed": 502}


def status_to_json(status: InstanceStatus) -> dict[str, Any]:
    return asdict(status)


def status_from_json(data: dict[str, Any]) -> InstanceStatus:
    return InstanceStatus(instance_id=str(data["instance_id"]), power=data["power"],
                          detail=str(data.get("detail", "")),
                          volumes=tuple(data.get("volumes", ())))


def info_from_json(data: dict[str, Any]) -> NodeInfo:
    return NodeInfo(name=str(data["name"]), address=str(data["address"]),
                    cores=int(data["cores"]), memory_mib=int(data["memory_mib"]),
                    virt_type=str(data["virt_type"]), netns=str(data.get("netns", "")),
                    version=str(data.get("version", "v1")), extra=dict(data.get("extra", {})))


def volume_to_json(volume: VolumeSpec) -> dict[str, Any]:
    return asdict(volume)


def volume_from_json(data: dict[str, Any]) -> VolumeSpec:
    return VolumeSpec(volume_id=str(data["volume_id"]), device=str(data["device"]),
                      attachment=dict(data["attachment"]))


def error_status(error: NodeError) -> int:
    return _STATUS.get(error.code, 503 if error.retryable else 500)


def error_body(error: NodeError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": str(error), "retryable": error.retryable}}


def error_from_body(status: int, data: Any) -> NodeError:
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return NodeError(f"agent answered HTTP {status}", retryable=status >= 500)
    return NodeError(str(err.get("message", f"HTTP {status}")),
                     retryable=bool(err.get("retryable", status >= 500)),
                     code=str(err.get("code", "NodeError")))
