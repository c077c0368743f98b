"""The resource id rule, instances' DNS names and the private address check, alone."""

from __future__ import annotations

import pytest

from cloudctl.errors import AwsError
from cloudctl.services import ids
from cloudctl.services.ec2.compute.dns_names import DNS_DOMAIN, INSTANCE_SUBDOMAIN, DnsNames
from cloudctl.services.ec2.shared import resources
from cloudctl.services.network.nics import check_private_ip


@pytest.mark.parametrize("value", ["i-0123abcd", "i-0123456789abcdef0"])
def test_well_formed(value: str) -> None:
    assert resources.INSTANCE.check(value) == value


@pytest.mark.parametrize("value", ["i-0123abc", "i-0123abcd0", "i-0123456789abcdef", "I-0123abcd",
                                   "i-0123ABCD", "i-0123abcd\n", " i-0123abcd", "vol-0123abcd",
                                   "", "i-", "i-0123456789abcdef01"])
def test_malformed(value: str) -> None:
    with pytest.raises(AwsError) as err:
        resources.INSTANCE.check(value)
    assert err.value.code == "InvalidInstanceID.Malformed"
    assert f'Invalid id: "{value}" (expecting "i-...")' == err.value.message


def test_image_prefixes() -> None:
    for prefix in ("ami", "emi", "eki", "eri", "aki", "ari"):
        assert resources.IMAGE.matches(f"{prefix}-abcd1234")
    assert not resources.IMAGE.matches("xmi-abcd1234")
    assert ids.is_resource_id("sg", "sg-abcd1234") and not ids.is_resource_id("sg", "sg-abcd")


def test_dns_names() -> None:
    names = DnsNames(domain="cloud.example.com", subdomain=".eucalyptus")
    assert names.public("198.51.100.10") == "euca-198-51-100-10.eucalyptus.cloud.example.com"
    assert names.private("10.111.0.5") == "euca-10-111-0-5.eucalyptus.internal"
    assert names.public(None) == names.private("") == ""
    assert DnsNames(subdomain="").private("10.0.0.1") == "euca-10-0-0-1.internal"


@pytest.mark.parametrize(("prop", "value", "ok"), [
    (DNS_DOMAIN, "mycloud.example.com", True), (DNS_DOMAIN, "localhost", True),
    (DNS_DOMAIN, "", False), (DNS_DOMAIN, "Bad Domain", False), (DNS_DOMAIN, ".lead", False),
    (DNS_DOMAIN, "a..b", False), (INSTANCE_SUBDOMAIN, ".eucalyptus", True),
    (INSTANCE_SUBDOMAIN, "", True), (INSTANCE_SUBDOMAIN, "eucalyptus", False),
    (INSTANCE_SUBDOMAIN, ".a.b", True), (INSTANCE_SUBDOMAIN, ".", False),
])
def test_dns_properties(prop: object, value: str, ok: bool) -> None:
    from cloudctl.properties.registry import PropertyDef, PropertyError

    assert isinstance(prop, PropertyDef)
    if ok:
        prop.parse(value)
    else:
        with pytest.raises(PropertyError):
            prop.parse(value)


@pytest.mark.parametrize(("value", "code"), [
    ("10.111.3.4", None), ("10.111.0.1", "InvalidParameterValue"),
    ("10.111.0.0", "InvalidParameterValue"), ("10.112.0.4", "InvalidParameterValue"),
    ("10.111.0.256", "InvalidParameterValue"), ("::1", "InvalidParameterValue"),
])
def test_private_ip_in_default_subnet(value: str, code: str | None) -> None:
    if code is None:
        assert check_private_ip(value) == value
        return
    with pytest.raises(AwsError) as err:
        check_private_ip(value)
    assert err.value.code == code
