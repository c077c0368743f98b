"""Credential files for a user: AWS CLI profile, eucarc, euca2ools ini."""

from __future__ import annotations

from dataclasses import dataclass

SERVICE_PATHS = {
    "ec2": "compute",
    "s3": "objectstorage",
    "iam": "Euare",
    "sts": "Tokens",
    "autoscaling": "AutoScaling",
    "elb": "LoadBalancing",
    "cloudwatch": "CloudWatch",
    "cloudformation": "CloudFormation",
    "properties": "Properties",
    "empyrean": "Empyrean",
}


@dataclass(frozen=True)
class CredentialBundle:
    endpoint: str  # http://host:port
    region: str
    account_id: str
    account_name: str
    user_name: str
    access_key_id: str
    secret_access_key: str
    ca_cert: str

    def url(self, service: str) -> str:
        return f"{self.endpoint}/services/{SERVICE_PATHS[service]}"

    @property
    def profile(self) -> str:
        return f"{self.account_name}-{self.user_name}"


def render_aws(b: CredentialBundle) -> str:
    return (
        "# ~/.aws/config\n"
        f"[profile {b.profile}]\n"
        f"region = {b.region}\n"
        f"endpoint_url = {b.endpoint}\n"
        "# AWS CLI v2 before 2.13 (Debian ships 2.9) ignores endpoint_url: pass "
        f"--endpoint-url {b.endpoint}\n"
        "\n# ~/.aws/credentials\n"
        f"[{b.profile}]\n"
        f"aws_access_key_id = {b.access_key_id}\n"
        f"aws_secret_access_key = {b.secret_access_key}\n"
    )


def render_eucarc(b: CredentialBundle) -> str:
    pairs = [
        ("EC2_URL", b.url("ec2")),
        ("S3_URL", b.url("s3")),
        ("AWS_IAM_URL", b.url("iam")),
        ("EUARE_URL", b.url("iam")),
        ("TOKEN_URL", b.url("sts")),
        ("AWS_AUTO_SCALING_URL", b.url("autoscaling")),
        ("AWS_ELB_URL", b.url("elb")),
        ("AWS_CLOUDWATCH_URL", b.url("cloudwatch")),
        ("AWS_CLOUDFORMATION_URL", b.url("cloudformation")),
        ("EUCA_PROPERTIES_URL", b.url("properties")),
        ("EUCA_BOOTSTRAP_URL", b.url("empyrean")),
        ("AWS_DEFAULT_REGION", b.region),
        ("EC2_ACCOUNT_NUMBER", b.account_id),
        ("EC2_USER_ID", b.account_id),
        ("AWS_ACCESS_KEY_ID", b.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", b.secret_access_key),
        ("AWS_ACCESS_KEY", b.access_key_id),
        ("AWS_SECRET_KEY", b.secret_access_key),
        ("EC2_ACCESS_KEY", b.access_key_id),
        ("EC2_SECRET_KEY", b.secret_access_key),
        ("EUCALYPTUS_CERT", b.ca_cert),
    ]
    lines = [f"# eucarc for {b.account_name}/{b.user_name}: source it in a shell"]
    lines += [f"export {k}={_shell_quote(v)}" for k, v in pairs]
    return "\n".join(lines) + "\n"


def render_ini(b: CredentialBundle) -> str:
    user = f"{b.account_id}:{b.user_name}"
    return (
        f"[region {b.region}]\n"
        f"ec2-url = {b.url('ec2')}\n"
        f"s3-url = {b.url('s3')}\n"
        f"iam-url = {b.url('iam')}\n"
        f"sts-url = {b.url('sts')}\n"
        f"autoscaling-url = {b.url('autoscaling')}\n"
        f"elasticloadbalancing-url = {b.url('elb')}\n"
        f"monitoring-url = {b.url('cloudwatch')}\n"
        f"cloudformation-url = {b.url('cloudformation')}\n"
        f"bootstrap-url = {b.url('empyrean')}\n"
        f"properties-url = {b.url('properties')}\n"
        f"certificate = {b.ca_cert}\n"
        "verify-ssl = false\n"
        f"user = {user}\n"
        "\n"
        f"[user {user}]\n"
        f"key-id = {b.access_key_id}\n"
        f"secret-key = {b.secret_access_key}\n"
        f"account-id = {b.account_id}\n"
    )


def _shell_quote(value: str) -> str:
    if value and all(c.isalnum() or c in "-_./:+=@" for c in value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


RENDERERS = {"aws": render_aws, "eucarc": render_eucarc, "ini": render_ini}
