"""The X.509 signing certificates of an account, for services that check signatures.

EC2 RegisterImage verifies a bundle manifest's signature as Eucalyptus did
(``SHA1withRSA`` over ``<machine_configuration>`` + ``<image>``, checked against the
certificates registered for the account's users): ``active_signing_certificates``
returns the PEM bodies of every active certificate uploaded with IAM
``UploadSigningCertificate`` for the account or any of its users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from cloudctl.services.iam.models import SigningCertificate

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


async def active_signing_certificates(cloud: Cloud, account_id: str) -> list[bytes]:
    """PEM bodies of the account's active signing certificates (users' and root's)."""
    async with cloud.sessions() as session:
        rows = (await session.execute(select(SigningCertificate.body).where(
            SigningCertificate.account_id == account_id,
            SigningCertificate.active.is_(True)))).scalars().all()
    return [body.encode() for body in rows]
