"""Every table of the cloud, imported so alembic and tests see one metadata."""

from __future__ import annotations

from cloudctl.db.base import Base
from cloudctl.properties.models import PropertyValue
from cloudctl.services.geography import Zone
from cloudctl.services.iam.models import AccessKey, Account, User

metadata = Base.metadata

__all__ = ["AccessKey", "Account", "PropertyValue", "User", "Zone", "metadata"]
