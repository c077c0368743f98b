"""The error the policy grammar raises: AWS's MalformedPolicyDocument message."""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy document AWS would refuse; ``message`` is AWS's text for it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
