"""Ansible's ``amazon.aws`` VPC modules against the cloud: a playbook builds a VPC, a
subnet, an internet gateway and a public route table, runs again without changes
(idempotence: the modules describe before they act), then removes it all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.infra.playbooks import run_playbook
from tests.support import LiveCloud


def _play(cloud: LiveCloud, tmp_path: Path, state: str) -> dict[str, Any]:
    conn = {"endpoint_url": cloud.endpoint, "region": cloud.region}
    tags = {"Name": "ansible-vpc"}
    present = state == "present"
    vpc = {"name": "ansible-vpc", "cidr_block": "10.95.0.0/16", "state": state, **conn}
    tasks: list[dict[str, Any]] = [
        {"name": "vpc", "amazon.aws.ec2_vpc_net": vpc, "register": "vpc"},
    ]
    vpc_id = "{{ vpc.vpc.id }}" if present else "{{ (found.vpcs | first).id }}"
    if not present:
        tasks = [{"name": "find", "amazon.aws.ec2_vpc_net_info": {
            "filters": {"tag:Name": "ansible-vpc"}, **conn}, "register": "found"}]
    body = [
        {"name": "subnet", "amazon.aws.ec2_vpc_subnet": {
            "vpc_id": vpc_id, "cidr": "10.95.1.0/24", "state": state, "tags": tags,
            "map_public": True, **conn}, "register": "subnet"},
        {"name": "igw", "amazon.aws.ec2_vpc_igw": {
            "vpc_id": vpc_id, "state": state, "tags": tags, **conn}, "register": "igw"},
    ]
    route = {"vpc_id": vpc_id, "tags": tags, "state": state, **conn}
    if present:
        route.update(subnets=["{{ subnet.subnet.id }}"], routes=[
            {"dest": "0.0.0.0/0", "gateway_id": "{{ igw.gateway_id }}"}])
    else:
        route.update(lookup="tag")
    table = {"name": "route table", "amazon.aws.ec2_vpc_route_table": route,
             "register": "rtb"}
    tasks += body + [table] if present else [table, *body[::-1]]
    if not present:
        tasks.append({"name": "vpc", "amazon.aws.ec2_vpc_net": vpc, "register": "vpc"})
    tasks.append({"name": "record", "copy": {
        "content": "{{ {'vpc': vpc, 'subnet': subnet, 'igw': igw, 'rtb': rtb} | to_json }}",
        "dest": str(tmp_path / f"{state}.json")}})
    playbook = tmp_path / f"{state}.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "connection": "local",
                                     "gather_facts": False, "tasks": tasks}]))
    run = run_playbook(cloud, playbook)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    out: dict[str, Any] = json.loads((tmp_path / f"{state}.json").read_text())
    return out


def test_ansible_builds_and_removes_a_vpc(sqlite_cloud: LiveCloud, tmp_path: Path) -> None:
    cloud = sqlite_cloud
    ec2 = cloud.client("ec2")
    (tmp_path / "one").mkdir()
    first = _play(cloud, tmp_path / "one", "present")
    vpc_id = first["vpc"]["vpc"]["id"]
    assert first["vpc"]["changed"] and first["subnet"]["changed"] and first["rtb"]["changed"]
    subnet = ec2.describe_subnets(SubnetIds=[first["subnet"]["subnet"]["id"]])["Subnets"][0]
    assert subnet["VpcId"] == vpc_id and subnet["MapPublicIpOnLaunch"] is True
    igw = ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    assert [g["InternetGatewayId"] for g in igw] == [first["igw"]["gateway_id"]]
    table = ec2.describe_route_tables(Filters=[
        {"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}])["RouteTables"][0]
    routes = {r["DestinationCidrBlock"]: r.get("GatewayId") for r in table["Routes"]}
    assert routes == {"10.95.0.0/16": "local", "0.0.0.0/0": first["igw"]["gateway_id"]}
    (tmp_path / "two").mkdir()
    second = _play(cloud, tmp_path / "two", "present")
    assert not any(second[k]["changed"] for k in ("vpc", "subnet", "igw", "rtb")), second
    assert second["vpc"]["vpc"]["id"] == vpc_id
    (tmp_path / "three").mkdir()
    _play(cloud, tmp_path / "three", "absent")
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["ansible-vpc"]}])[
        "Vpcs"] == []
