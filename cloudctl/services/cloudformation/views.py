"""Rows as the CloudFormation API shows them (DescribeStacks, events, resources)."""

from __future__ import annotations

import json
from typing import Any

from cloudctl.services.cloudformation import parameters
from cloudctl.services.cloudformation.models import Stack, StackEvent, StackResource


def stack(row: Stack) -> dict[str, Any]:
    declared = (row.template or {}).get("Parameters") or {}
    out: dict[str, Any] = {
        "StackId": row.stack_id, "StackName": row.name, "CreationTime": row.created_at,
        "StackStatus": row.status, "DisableRollback": row.on_failure == "DO_NOTHING",
        "NotificationARNs": list(row.notification_arns or []),
        "Capabilities": list(row.capabilities or []),
        "Parameters": parameters.echo(declared, row.parameters or {}),
        "Outputs": [dict(o) for o in row.outputs or []],
        "Tags": [{"Key": k, "Value": v} for k, v in (row.tags or {}).items()],
        "EnableTerminationProtection": bool(row.termination_protection),
        "RollbackConfiguration": {},
        "DriftInformation": stack_drift(row),
    }
    for key, value in (("Description", row.description), ("StackStatusReason",
                       row.status_reason), ("LastUpdatedTime", row.updated_at),
                       ("DeletionTime", row.deleted_at), ("RoleARN", row.role_arn),
                       ("TimeoutInMinutes", row.timeout_minutes), ("ParentId", row.parent_id),
                       ("RootId", row.root_id)):
        if value is not None:
            out[key] = value
    return out


def stack_drift(row: Stack) -> dict[str, Any]:
    out: dict[str, Any] = {"StackDriftStatus": row.drift_status or "NOT_CHECKED"}
    if row.drift_checked_at is not None:
        out["LastCheckTimestamp"] = row.drift_checked_at
    return out


def summary(row: Stack) -> dict[str, Any]:
    out: dict[str, Any] = {"StackId": row.stack_id, "StackName": row.name,
                           "CreationTime": row.created_at, "StackStatus": row.status,
                           "DriftInformation": stack_drift(row)}
    for key, value in (("TemplateDescription", row.description), ("ParentId", row.parent_id),
                       ("RootId", row.root_id),
                       ("StackStatusReason", row.status_reason),
                       ("LastUpdatedTime", row.updated_at), ("DeletionTime", row.deleted_at)):
        if value is not None:
            out[key] = value
    return out


def event(row: StackEvent, stack_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "StackId": row.stack_id, "EventId": row.event_id, "StackName": stack_name,
        "LogicalResourceId": row.logical_id, "ResourceType": row.type,
        "Timestamp": row.timestamp, "ResourceStatus": row.status,
        "PhysicalResourceId": row.physical_id or ""}
    if row.reason:
        out["ResourceStatusReason"] = row.reason
    if row.properties:
        out["ResourceProperties"] = row.properties
    if row.request_token:
        out["ClientRequestToken"] = row.request_token
    return out


def resource(row: StackResource, stack_row: Stack, *, detail: bool = False,
             summary_: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"LogicalResourceId": row.logical_id,
                           "ResourceType": row.type, "ResourceStatus": row.status}
    if row.physical_id:
        out["PhysicalResourceId"] = row.physical_id
    if row.status_reason:
        out["ResourceStatusReason"] = row.status_reason
    drift: dict[str, Any] = {"StackResourceDriftStatus": row.drift_status or "NOT_CHECKED"}
    if row.drift_checked_at is not None:
        drift["LastCheckTimestamp"] = row.drift_checked_at
    if summary_:
        out["LastUpdatedTimestamp"] = row.updated_at
        out["DriftInformation"] = drift
        return out
    out.update({"StackName": stack_row.name, "StackId": stack_row.stack_id,
                "DriftInformation": drift})
    if detail:
        out["LastUpdatedTimestamp"] = row.updated_at
        out["Metadata"] = json.dumps(row.metadata_ or {})
    else:
        out["Timestamp"] = row.updated_at
    return out
