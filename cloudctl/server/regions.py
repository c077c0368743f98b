"""Which of the cloud's regions serves a request signed for a region name.

As Eucalyptus did, any region name is accepted by default (boto3 and the AWS CLI
default to ``us-east-1``; the endpoint URL is what selects the cloud) and a region
the cloud does not have is served by the cloud's own region, so every client of
one account sees the same resources. ``region.unknown_region_policy=refuse``
answers such a request as AWS answers a signature scoped to the wrong region
instead: ``SignatureDoesNotMatch`` (403, "Credential should be scoped to a valid
region") for the query and JSON services, ``AuthorizationHeaderMalformed`` (400,
with the expected ``Region``) for S3, which SDKs follow to the right region.

S3 keeps the region the client signed for when it serves it: buckets are one
namespace over the whole cloud and ``CreateBucket`` checks the location the client
asks for against the region it signed for (``aws s3 mb`` sends both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudctl.errors import AwsError
from cloudctl.properties.registry import PropertyDef, PropertyType, registry

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

SERVE = "serve"
REFUSE = "refuse"
UNKNOWN_REGION_POLICY = registry.define(PropertyDef(
    "region.unknown_region_policy", PropertyType.STRING, SERVE,
    "A request signed for a region this cloud does not have: 'serve' it from the cloud's "
    "region (Eucalyptus: any AWS region name works, the endpoint URL selects the cloud) "
    "or 'refuse' it as AWS refuses a signature scoped to the wrong region.",
    choices=(SERVE, REFUSE),
))
# IAM and STS are global in AWS: their requests are signed for us-east-1 whatever the
# caller's region
GLOBAL_SERVICES = frozenset({"iam", "sts"})
GLOBAL_SIGNING_REGION = "us-east-1"
# the Eucalyptus administration services belong to the cloud, not to a region
CLOUD_SERVICES = frozenset({"properties", "empyrean"})


def known_regions(cloud: Cloud) -> set[str]:
    return {cloud.region, *cloud.region_zones}


def serving_region(cloud: Cloud, service: str, signed: str | None) -> str:
    """The region that serves a ``service`` request signed for ``signed`` (None: unsigned)."""
    if signed is None or signed == cloud.region:
        return cloud.region
    if signed in known_regions(cloud):
        return signed
    if service in CLOUD_SERVICES or (service in GLOBAL_SERVICES
                                     and signed == GLOBAL_SIGNING_REGION):
        return cloud.region
    if cloud.properties.get(UNKNOWN_REGION_POLICY) == REFUSE:
        if service == "s3":
            raise AwsError(f"The authorization header is malformed; the region '{signed}' is "
                           f"wrong; expecting '{cloud.region}'",
                           code="AuthorizationHeaderMalformed", status=400,
                           headers={"x-amz-bucket-region": cloud.region}, Region=cloud.region)
        raise AwsError(f"Credential should be scoped to a valid region, not '{signed}'. ",
                       code="SignatureDoesNotMatch", status=403)
    return signed if service == "s3" else cloud.region
