"""AWS managed policies, built in: ``arn:aws:iam::aws:policy/<name>``, version v1.

They are read-only, exist in every account and are attached by ARN like
customer managed policies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CREATED = datetime(2015, 2, 6, 18, 39, 46, tzinfo=UTC)


@dataclass(frozen=True)
class AwsPolicy:
    name: str
    policy_id: str
    description: str
    document: str
    path: str = "/"

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::aws:policy{self.path}{self.name}"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(actions: list[str] | str, resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


_POLICIES = [
    AwsPolicy("AdministratorAccess", "ANPAIWMBCKSKIEE64ZLYK",
              "Provides full access to AWS services and resources.", _doc(_allow("*"))),
    AwsPolicy("ReadOnlyAccess", "ANPAILL3HVNFSB6DCOWYQ",
              "Provides read-only access to AWS services and resources.",
              _doc(_allow(["ec2:Describe*", "ec2:Get*", "iam:Get*", "iam:List*",
                           "s3:Get*", "s3:List*", "s3:Head*", "sts:GetCallerIdentity",
                           "elasticloadbalancing:Describe*", "autoscaling:Describe*",
                           "cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*",
                           "cloudformation:Describe*", "cloudformation:Get*",
                           "cloudformation:List*"]))),
    AwsPolicy("AmazonEC2FullAccess", "ANPAI3VAJF5ZCRZ7MCQE6",
              "Provides full access to Amazon EC2 via the AWS Management Console.",
              _doc(_allow(["ec2:*", "elasticloadbalancing:*", "cloudwatch:*",
                           "autoscaling:*"]))),
    AwsPolicy("AmazonEC2ReadOnlyAccess", "ANPAIGDT4SV4GSETWTBZK",
              "Provides read only access to Amazon EC2 via the AWS Management Console.",
              _doc(_allow(["ec2:Describe*", "elasticloadbalancing:Describe*",
                           "cloudwatch:ListMetrics", "cloudwatch:GetMetricStatistics",
                           "cloudwatch:Describe*", "autoscaling:Describe*"]))),
    AwsPolicy("AmazonS3FullAccess", "ANPAIFIR6V6BVTRAHWINE",
              "Provides full access to all buckets via the AWS Management Console.",
              _doc(_allow(["s3:*"]))),
    AwsPolicy("AmazonS3ReadOnlyAccess", "ANPAIZTJ4DXE7G6AGAE6M",
              "Provides read only access to all buckets via the AWS Management Console.",
              _doc(_allow(["s3:Get*", "s3:List*", "s3:Head*"]))),
    AwsPolicy("IAMFullAccess", "ANPAI7XKCFMBPM3QQRRVQ",
              "Provides full access to IAM via the AWS Management Console.",
              _doc(_allow(["iam:*"]))),
    AwsPolicy("IAMReadOnlyAccess", "ANPAJKSO7NDY4T57MWDSQ",
              "Provides read only access to IAM via the AWS Management Console.",
              _doc(_allow(["iam:Get*", "iam:List*", "iam:GenerateCredentialReport",
                           "iam:GenerateServiceLastAccessedDetails", "iam:SimulateCustomPolicy",
                           "iam:SimulatePrincipalPolicy"]))),
    AwsPolicy("CloudWatchFullAccess", "ANPAIKEABORKUXN6DEAZU",
              "Provides full access to CloudWatch.", _doc(_allow(["cloudwatch:*",
                                                                   "autoscaling:Describe*"]))),
    AwsPolicy("AWSCloudFormationFullAccess", "ANPAJB6NQ3ZQTQOEOZ3WK",
              "Provides full access to AWS CloudFormation.", _doc(_allow(["cloudformation:*"]))),
    AwsPolicy("ElasticLoadBalancingFullAccess", "ANPAIDPMLA3IUIOQCISJ4",
              "Provides full access to Elastic Load Balancing.",
              _doc(_allow(["elasticloadbalancing:*", "ec2:Describe*"]))),
    AwsPolicy("AutoScalingFullAccess", "ANPAIAWRCSJDDXDXGPCFU",
              "Provides full access to Auto Scaling.", _doc(_allow(["autoscaling:*",
                                                                     "cloudwatch:*"]))),
]

BY_ARN: dict[str, AwsPolicy] = {p.arn: p for p in _POLICIES}


def policy_out(policy: AwsPolicy, attachments: int) -> dict[str, Any]:
    return {"PolicyName": policy.name, "PolicyId": policy.policy_id, "Arn": policy.arn,
            "Path": policy.path, "DefaultVersionId": "v1", "AttachmentCount": attachments,
            "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
            "Description": policy.description, "CreateDate": CREATED, "UpdateDate": CREATED}


def all_policies() -> list[AwsPolicy]:
    return list(_POLICIES)
