"""Ansible against the cloud's Auto Scaling: ``community.aws.autoscaling_launch_config``
makes a launch configuration, ``amazon.aws.ec2_launch_template`` a template, and
``amazon.aws.autoscaling_group`` a group it waits on until its instances are InService
(``wait_for_instances``: the module's own waiter, which reads the group's instances
and their health), then resizes it and deletes it (it waits for the instances to go);
a second run of the same playbook changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.api.autoscaling_helpers import image, unique, zones
from tests.infra.playbooks import run_playbook
from tests.support import LiveCloud


def _play(cloud: LiveCloud, tmp_path: Path, tasks: list[dict[str, Any]]) -> str:
    playbook = tmp_path / f"{unique('play')}.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "connection": "local",
                                     "gather_facts": False, "tasks": tasks}]))
    run = run_playbook(cloud, playbook)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_ansible_launch_config_template_and_group(sqlite_cloud: LiveCloud,
                                                  tmp_path: Path) -> None:
    cloud = sqlite_cloud
    where = {"endpoint_url": cloud.endpoint, "region": cloud.region}
    lc, lt, name = unique("lc"), unique("lt"), unique("asg")
    create = [
        {"name": "launch configuration", "community.aws.autoscaling_launch_config": dict(
            where, name=lc, image_id=image(cloud), instance_type="t1.micro")},
        {"name": "launch template", "amazon.aws.ec2_launch_template": dict(
            where, name=lt, image_id=image(cloud), instance_type="t1.micro")},
        {"name": "group", "amazon.aws.autoscaling_group": dict(
            where, name=name, launch_config_name=lc, min_size=1, max_size=3,
            desired_capacity=2, availability_zones=zones(cloud)[:1], wait_for_instances=True,
            wait_timeout=120, health_check_type="EC2", tags=[{"team": "blue"}])}]
    out = _play(cloud, tmp_path, create)
    assert "changed=3" in out
    asg = cloud.client("autoscaling")
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert g["DesiredCapacity"] == 2
    assert len([i for i in g["Instances"] if i["LifecycleState"] == "InService"]) == 2
    assert {t["Key"]: t["Value"] for t in g["Tags"]} == {"team": "blue"}
    assert "changed=0" in _play(cloud, tmp_path, create)  # idempotent
    _play(cloud, tmp_path, [{"name": "resize onto the template",
                             "amazon.aws.autoscaling_group": dict(
                                 where, name=name, launch_template={"launch_template_name": lt},
                                 min_size=0, max_size=3, desired_capacity=1,
                                 availability_zones=zones(cloud)[:1],
                                 wait_for_instances=True, wait_timeout=120)}])
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert g["DesiredCapacity"] == 1 and g["LaunchTemplate"]["LaunchTemplateName"] == lt
    _play(cloud, tmp_path, [
        {"name": "delete the group", "amazon.aws.autoscaling_group": dict(
            where, name=name, state="absent", wait_timeout=120)},
        {"name": "delete the configuration", "community.aws.autoscaling_launch_config": dict(
            where, name=lc, state="absent")}])
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"] == []
    assert asg.describe_launch_configurations(LaunchConfigurationNames=[lc])[
        "LaunchConfigurations"] == []
