"""The error the policy grammar raises: AWS's MalformedPolicyDocument message."""

from __future__ import annotations

from typing import Literal

#: Which part of the document is at fault; S3 words its MalformedPolicy answers by it.
Part = Literal["syntax", "version", "action", "resource", "principal", "condition"]


class PolicyError(ValueError):
    """A policy document AWS would refuse; ``message`` is IAM's text for it and
    ``part`` the element at fault (S3 answers with its own wording per part)."""

    def __init__(self, message: str, part: Part = "syntax") -> None:
        super().__init__(message)
        self.message = message
        self.part = part
