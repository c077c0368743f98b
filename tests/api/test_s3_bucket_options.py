"""S3 request payment (enforced), acceleration status, inventory configurations; KMS
refused clearly."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name, second_account
from tests.support import LiveCloud


def test_requester_pays_enforced(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    key, secret, account = second_account(cloud, bucket_name("payer"))
    other = cloud.client("s3", access_key=key, secret_key=secret)
    name = bucket_name("rp")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.put_bucket_policy(Bucket=name, Policy=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"'
        f'arn:aws:iam::{account}:root"}},"Action":"s3:GetObject","Resource":'
        f'"arn:aws:s3:::{name}/*"}}]}}'))
    assert other.get_object(Bucket=name, Key="k")["Body"].read() == b"x"
    s3.put_bucket_request_payment(Bucket=name, RequestPaymentConfiguration={
        "Payer": "Requester"})
    assert s3.get_bucket_request_payment(Bucket=name)["Payer"] == "Requester"
    with pytest.raises(ClientError) as exc:
        other.get_object(Bucket=name, Key="k")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert other.get_object(Bucket=name, Key="k",
                            RequestPayer="requester")["Body"].read() == b"x"
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"x"


def test_accelerate_and_inventory(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("opt")
    s3.create_bucket(Bucket=name)
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket=name)
    s3.put_bucket_accelerate_configuration(Bucket=name, AccelerateConfiguration={
        "Status": "Enabled"})
    assert s3.get_bucket_accelerate_configuration(Bucket=name)["Status"] == "Enabled"
    dotted = bucket_name("opt") + ".dots"
    s3.create_bucket(Bucket=dotted)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_accelerate_configuration(Bucket=dotted, AccelerateConfiguration={
            "Status": "Enabled"})
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"
    config = {"Id": "weekly", "IsEnabled": True, "IncludedObjectVersions": "Current",
              "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{name}",
                                                      "Format": "CSV", "Prefix": "inv"}},
              "Schedule": {"Frequency": "Weekly"}, "OptionalFields": ["Size", "ETag"]}
    s3.put_bucket_inventory_configuration(Bucket=name, Id="weekly",
                                          InventoryConfiguration=config)
    got = s3.get_bucket_inventory_configuration(Bucket=name, Id="weekly")
    assert got["InventoryConfiguration"]["Schedule"] == {"Frequency": "Weekly"}
    listed = s3.list_bucket_inventory_configurations(Bucket=name)
    assert [c["Id"] for c in listed["InventoryConfigurationList"]] == ["weekly"]
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_inventory_configuration(Bucket=name, Id="other",
                                              InventoryConfiguration=config)
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    s3.delete_bucket_inventory_configuration(Bucket=name, Id="weekly")
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_inventory_configuration(Bucket=name, Id="weekly")
    assert exc.value.response["Error"]["Code"] == "NoSuchConfiguration"


def test_sse_kms_refused_clearly(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("kms")
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=name, Key="k", Body=b"x", ServerSideEncryption="aws:kms")
    assert exc.value.response["Error"]["Code"] == "NotImplemented"
    assert "KMS" in exc.value.response["Error"]["Message"]


def test_requester_pays_charged_header(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    key, secret, account = second_account(cloud, bucket_name("charged"))
    other = cloud.client("s3", access_key=key, secret_key=secret)
    name, plain = bucket_name("rpc"), bucket_name("rpfree")
    for bucket in (name, plain):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        s3.put_bucket_policy(Bucket=bucket, Policy=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"'
            f'arn:aws:iam::{account}:root"}},"Action":["s3:GetObject","s3:ListBucket"],'
            f'"Resource":["arn:aws:s3:::{bucket}/*","arn:aws:s3:::{bucket}"]}}]}}'))
    s3.put_bucket_request_payment(Bucket=name, RequestPaymentConfiguration={
        "Payer": "Requester"})
    got = other.get_object(Bucket=name, Key="k", RequestPayer="requester")
    assert got["RequestCharged"] == "requester"
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-charged"] == "requester"
    head = other.head_object(Bucket=name, Key="k", RequestPayer="requester")
    assert head["RequestCharged"] == "requester"
    listed = other.list_objects_v2(Bucket=name, RequestPayer="requester")
    assert listed["RequestCharged"] == "requester"
    assert "RequestCharged" not in s3.get_object(Bucket=name, Key="k")  # no header sent
    assert "RequestCharged" not in other.get_object(Bucket=plain, Key="k",
                                                    RequestPayer="requester")
    with pytest.raises(ClientError) as exc:
        other.get_object(Bucket=name, Key="missing", RequestPayer="requester")
    assert "x-amz-request-charged" not in exc.value.response["ResponseMetadata"]["HTTPHeaders"]
