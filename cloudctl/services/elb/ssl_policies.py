"""SSL negotiation policies: AWS's predefined ``ELBSecurityPolicy-*`` (what
DescribeLoadBalancerPolicies answers without a load balancer name) and what a
listener's ``SSLNegotiationPolicyType`` policy allows: a ``Reference-Security-Policy``
(the predefined one's protocols and ciphers, other attributes ignored, as on AWS), or
its own ``Protocol-*`` and cipher attributes set to ``true``. The data plane renders
the result on haproxy's bind line (``netd.lbspec.TlsPolicy``); classic load balancers
speak neither SSLv3 nor TLS 1.3."""

from __future__ import annotations

from typing import Any

from cloudctl.services.elb.common import InvalidConfigurationRequest

PROTOCOLS = ("Protocol-TLSv1", "Protocol-TLSv1.1", "Protocol-TLSv1.2")
OTHER_ATTRIBUTES = ("Reference-Security-Policy", "Server-Defined-Cipher-Order",
                    "Protocol-SSLv3")

_ECDHE_2016 = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES256-SHA")
_RSA_2016 = ("AES128-GCM-SHA256", "AES128-SHA256", "AES128-SHA", "AES256-GCM-SHA384",
             "AES256-SHA256", "AES256-SHA")
_TLS12_2017 = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384", "AES128-GCM-SHA256",
    "AES128-SHA256", "AES256-GCM-SHA384", "AES256-SHA256")

# name -> (protocols, ciphers in the server's order)
PREDEFINED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ELBSecurityPolicy-2016-08": (PROTOCOLS, _ECDHE_2016 + _RSA_2016),
    "ELBSecurityPolicy-TLS-1-1-2017-01": (PROTOCOLS[1:], _ECDHE_2016 + _RSA_2016),
    "ELBSecurityPolicy-TLS-1-2-2017-01": (PROTOCOLS[2:], _TLS12_2017),
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06": (PROTOCOLS[2:], _TLS12_2017 + (
        "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA",
        "ECDHE-ECDSA-AES256-SHA", "AES128-SHA", "AES256-SHA")),
    "ELBSecurityPolicy-FS-2018-06": (PROTOCOLS, _ECDHE_2016),
    "ELBSecurityPolicy-2015-05": (PROTOCOLS, _ECDHE_2016 + _RSA_2016 + ("DES-CBC3-SHA",)),
}
KNOWN_CIPHERS = frozenset(c for _p, ciphers in PREDEFINED.values() for c in ciphers)


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def predefined_descriptions(names: list[str]) -> list[dict[str, Any]]:
    """The sample policies as PolicyDescriptions (all, or those of ``names``)."""
    out = []
    for name in names or list(PREDEFINED):
        protocols, ciphers = PREDEFINED[name]
        attrs = [{"AttributeName": p, "AttributeValue": str(p in protocols).lower()}
                 for p in PROTOCOLS]
        attrs.append({"AttributeName": "Server-Defined-Cipher-Order",
                      "AttributeValue": "true"})
        attrs += [{"AttributeName": c, "AttributeValue": str(c in ciphers).lower()}
                  for c in sorted(KNOWN_CIPHERS)]
        out.append({"PolicyName": name, "PolicyTypeName": "SSLNegotiationPolicyType",
                    "PolicyAttributeDescriptions": attrs})
    return out


def check(attrs: list[dict[str, str]]) -> None:
    """A policy AWS accepts: a known reference, or at least one protocol and one known
    cipher enabled and no attribute it does not know."""
    given = {a["AttributeName"]: a["AttributeValue"] for a in attrs}
    reference = given.get("Reference-Security-Policy")
    if reference is not None:
        if reference not in PREDEFINED:
            raise InvalidConfigurationRequest(
                f"The referenced security policy {reference} does not exist")
        return
    for name in given:
        if name not in PROTOCOLS and name not in OTHER_ATTRIBUTES and (
                name not in KNOWN_CIPHERS):
            raise InvalidConfigurationRequest(f"Invalid SSL negotiation attribute {name}")
    if _flag(given.get("Protocol-SSLv3")):
        raise InvalidConfigurationRequest("SSLv3 is not supported by this cloud")
    if not any(_flag(given.get(p)) for p in PROTOCOLS):
        raise InvalidConfigurationRequest("The policy must enable at least one protocol")
    if not any(_flag(v) for k, v in given.items() if k in KNOWN_CIPHERS):
        raise InvalidConfigurationRequest("The policy must enable at least one cipher")


def effective(attrs: list[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(protocols, ciphers, server order) a policy's attributes allow."""
    given = {str(a.get("AttributeName")): a.get("AttributeValue") for a in attrs}
    reference = given.get("Reference-Security-Policy")
    if reference in PREDEFINED:
        protocols, ciphers = PREDEFINED[str(reference)]
        return protocols, ciphers, True
    protocols = tuple(p for p in PROTOCOLS if _flag(given.get(p)))
    ciphers = tuple(k for k, v in given.items() if k in KNOWN_CIPHERS and _flag(v))
    return protocols, ciphers, _flag(given.get("Server-Defined-Cipher-Order"))
