"""The compute tables, imported in one place for ``cloudctl.db.models`` and alembic."""

from __future__ import annotations

from cloudctl.services.ec2.keypairs import KeyPair
from cloudctl.services.ec2.tags import Tag

COMPUTE_TABLES = (Tag, KeyPair)

__all__ = ["COMPUTE_TABLES", "KeyPair", "Tag"]
