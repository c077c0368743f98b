"""Regenerate the pinned CloudFormation resource provider schemas of the cloud's types.

The published resource provider schemas ship inside cfn-lint (PyPI). This script copies
the schema of every type the cloud serves (``TYPES``) from the installed cfn-lint into
``cloudctl/services/cloudformation/schemas/<Type>.json`` (``::`` -> ``-``), trimmed to
what the engine reads, and records the source version in ``SOURCE``.

    python3 scripts/cfn_schemas.py          # after `pip install cfn-lint==<version>`
"""

from __future__ import annotations

import importlib
import json
import pathlib
import sys

TYPES = [
    "AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::Role", "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile", "AWS::IAM::AccessKey",
    "AWS::IAM::UserToGroupAddition", "AWS::S3::Bucket", "AWS::S3::BucketPolicy",
    "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress", "AWS::EC2::KeyPair", "AWS::EC2::Volume",
    "AWS::EC2::VolumeAttachment", "AWS::EC2::EIP", "AWS::EC2::EIPAssociation",
    "AWS::EC2::Instance", "AWS::CloudFormation::WaitConditionHandle",
    "AWS::CloudFormation::WaitCondition", "AWS::EC2::VPC", "AWS::EC2::Subnet",
    "AWS::EC2::InternetGateway", "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::RouteTable",
    "AWS::EC2::Route", "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::ElasticLoadBalancing::LoadBalancer", "AWS::AutoScaling::LaunchConfiguration",
    "AWS::AutoScaling::AutoScalingGroup", "AWS::AutoScaling::ScalingPolicy",
    "AWS::CloudWatch::Alarm", "AWS::EC2::LaunchTemplate", "AWS::EC2::NatGateway",
    "AWS::EC2::NetworkAcl", "AWS::EC2::NetworkAclEntry", "AWS::EC2::SubnetNetworkAclAssociation",
    "AWS::EC2::DHCPOptions", "AWS::EC2::VPCDHCPOptionsAssociation", "AWS::EC2::NetworkInterface",
    "AWS::AutoScaling::ScheduledAction", "AWS::AutoScaling::LifecycleHook",
    "AWS::CloudFormation::Stack", "AWS::EC2::NetworkInterfaceAttachment",
    "AWS::EC2::VPCPeeringConnection",
]
KEEP = ("typeName", "properties", "definitions", "required", "additionalProperties",
        "createOnlyProperties", "readOnlyProperties", "writeOnlyProperties",
        "primaryIdentifier", "conditionalCreateOnlyProperties", "dependentRequired",
        "oneOf", "anyOf", "allOf", "requiredXor", "dependentExcluded", "tagging")
OUT = pathlib.Path(__file__).resolve().parent.parent / "cloudctl/services/cloudformation/schemas"


def main() -> int:
    import cfnlint
    from cfnlint.version import __version__

    root = pathlib.Path(cfnlint.__file__).parent / "data/schemas"
    index = importlib.import_module("cfnlint.data.schemas.providers.us_east_1").types
    OUT.mkdir(parents=True, exist_ok=True)
    for name in TYPES:
        schema = json.loads((root / "resources" / f"{index[name]}.json").read_text())
        trimmed = {key: schema[key] for key in KEEP if key in schema}
        path = OUT / (name.replace("::", "-") + ".json")
        path.write_text(json.dumps(trimmed, indent=1, sort_keys=True) + "\n")
    (OUT / "SOURCE").write_text(f"cfn-lint {__version__} (PyPI), region us-east-1 provider "
                                f"schemas; regenerate with scripts/cfn_schemas.py\n")
    print(f"{len(TYPES)} schemas from cfn-lint {__version__} -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
