"""The IAM providers a cloud runs (``assemble`` adds them)."""

from __future__ import annotations

from cloudctl.services.iam.accounts import AccountsProvider
from cloudctl.services.iam.idp import IdentityProvidersProvider
from cloudctl.services.iam.keys import KeysProvider
from cloudctl.services.iam.mfa import MfaProvider
from cloudctl.services.iam.policies import PoliciesProvider
from cloudctl.services.iam.report import ReportsProvider
from cloudctl.services.iam.roles import RolesProvider
from cloudctl.services.iam.service_roles import ServiceRolesProvider
from cloudctl.services.iam.simulate import SimulationProvider
from cloudctl.services.iam.sshkeys import SshKeysProvider
from cloudctl.services.iam.users import UsersProvider

IAM_PROVIDERS = (AccountsProvider, UsersProvider, KeysProvider, RolesProvider, PoliciesProvider,
                 SshKeysProvider, ReportsProvider, SimulationProvider, MfaProvider,
                 IdentityProvidersProvider, ServiceRolesProvider)
