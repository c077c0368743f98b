"""Typed AWS errors raised by every layer (protocol, auth, providers).

Owns the error vocabulary: a provider raises ``AwsError`` (or a subclass) with the
AWS code, HTTP status and message; the protocol serializer turns it into the error
envelope of the service's wire protocol. Nothing here knows about XML or JSON.
"""

from __future__ import annotations

from typing import Any


class AwsError(Exception):
    """An error answered to the client in the AWS shape of the service's protocol.

    ``code`` is the AWS error code, ``status`` the HTTP status, ``sender_fault``
    distinguishes client (Sender) from server (Receiver) faults for query
    protocols, ``fields`` carries extra members some services put in the error
    body (S3's ``BucketName``, ``Key``, ``Resource``...).
    """

    code: str = "InternalError"
    status: int = 400
    sender_fault: bool = True

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        sender_fault: bool | None = None,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault
        self.headers: dict[str, str] = headers or {}
        self.fields: dict[str, Any] = fields

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.status}, {self.message!r})"


def aws_error(code: str, message: str, status: int = 400, **fields: Any) -> AwsError:
    """Build an ``AwsError`` with an arbitrary code (for the long tail of codes)."""
    return AwsError(message, code=code, status=status, **fields)


class InternalFailure(AwsError):
    code = "InternalFailure"
    status = 500
    sender_fault = False


class InvalidAction(AwsError):
    code = "InvalidAction"
    status = 400


class NotImplementedOperation(AwsError):
    """An operation present in the service model that this cloud does not implement."""

    code = "NotImplemented"
    status = 501
    sender_fault = False


class MissingParameter(AwsError):
    code = "MissingParameter"


class InvalidParameterValue(AwsError):
    code = "InvalidParameterValue"


class InvalidParameterCombination(AwsError):
    code = "InvalidParameterCombination"


class ValidationError(AwsError):
    code = "ValidationError"


class MalformedQueryString(AwsError):
    code = "MalformedQueryString"


class SerializationException(AwsError):
    code = "SerializationException"


class AccessDenied(AwsError):
    code = "AccessDenied"
    status = 403


class UnauthorizedOperation(AwsError):
    code = "UnauthorizedOperation"
    status = 403


class DryRunOperation(AwsError):
    """EC2: the caller may perform the call, which was not performed (``DryRun=true``)."""

    code = "DryRunOperation"
    status = 412


class RequestEntityTooLarge(AwsError):
    code = "RequestEntityTooLarge"
    status = 413


class ServiceUnavailable(AwsError):
    code = "ServiceUnavailable"
    status = 503
    sender_fault = False


class Throttling(AwsError):
    code = "Throttling"
    status = 400
