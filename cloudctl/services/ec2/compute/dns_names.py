"""Instances' DNS names, as Eucalyptus named them.

Owns ``system.dns.dnsdomain`` (the cloud's DNS domain, Eucalyptus' default
``localhost``) and ``cloud.vmstate.instance_subdomain`` (``.eucalyptus``). An
instance with address A.B.C.D is

- publicly ``euca-A-B-C-D<instance_subdomain>.<dnsdomain>``
  (``euca-198-51-100-10.eucalyptus.mycloud.example.com``);
- privately ``euca-A-B-C-D<instance_subdomain>.internal``
  (``euca-10-111-0-5.eucalyptus.internal``: the cloud-internal domain is always
  ``internal``).

DescribeInstances (``PublicDnsName``, ``PrivateDnsName``, the interface's
``PrivateDnsName`` and ``Association.PublicDnsName``) and the metadata service
(``public-hostname``, ``local-hostname``, ``hostname``) read them through
``DnsNames``, built from the properties in force (``names_of``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cloudctl.properties.registry import PropertyDef, PropertyError, PropertyType, registry
from cloudctl.properties.store import PropertyStore

INTERNAL_DOMAIN = "internal"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_SUBDOMAIN_RE = re.compile(rf"(?:\.{_LABEL})*")


def _check_domain(value: Any) -> None:
    text = str(value or "")
    if len(text) > 200 or not _DOMAIN_RE.fullmatch(text):
        raise PropertyError("system.dns.dnsdomain: a DNS domain of lower-case labels "
                            "(letters, digits, hyphens) separated by dots, e.g. "
                            "mycloud.example.com")


def _check_subdomain(value: Any) -> None:
    text = str(value or "")
    if len(text) > 63 or not _SUBDOMAIN_RE.fullmatch(text):
        raise PropertyError("cloud.vmstate.instance_subdomain: empty or dot-prefixed "
                            "lower-case labels, e.g. .eucalyptus")


DNS_DOMAIN = registry.define(PropertyDef(
    "system.dns.dnsdomain", PropertyType.STRING, "localhost",
    "Domain name to use for DNS: instances' public names are "
    "euca-A-B-C-D<cloud.vmstate.instance_subdomain>.<this domain>.",
    validator=_check_domain,
))
INSTANCE_SUBDOMAIN = registry.define(PropertyDef(
    "cloud.vmstate.instance_subdomain", PropertyType.STRING, ".eucalyptus",
    "Subdomain to use for instance DNS (public: euca-A-B-C-D<subdomain>."
    "<system.dns.dnsdomain>, private: euca-A-B-C-D<subdomain>.internal).",
    validator=_check_subdomain,
))


@dataclass(frozen=True)
class DnsNames:
    """The naming rule in force: ``public(ip)`` and ``private(ip)`` ('' for no address)."""

    domain: str = "localhost"
    subdomain: str = ".eucalyptus"

    def _name(self, ip: str | None, domain: str) -> str:
        return f"euca-{ip.replace('.', '-')}{self.subdomain}.{domain}" if ip else ""

    def public(self, ip: str | None) -> str:
        return self._name(ip, self.domain)

    def private(self, ip: str | None) -> str:
        return self._name(ip, INTERNAL_DOMAIN)


def names_of(properties: PropertyStore) -> DnsNames:
    """The names the cloud's properties define now."""
    return DnsNames(domain=str(properties.get(DNS_DOMAIN)),
                    subdomain=str(properties.get(INSTANCE_SUBDOMAIN)))
