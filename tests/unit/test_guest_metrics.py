"""Counter deltas into AWS/EC2 and AWS/EBS values, on samples from the shipped fake driver.

The fake integrates a guest load (``GuestLoad``) over its own clock, so each test
knows exactly what a real guest doing that work would have reported; the collector's
``Sampler`` turns the samples into datums (periods, dimension sets, restarts, gaps).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("libvirt")
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")

from cloudctl.services.ec2.compute import guest_metrics as gm  # noqa: E402
from cloudctl.services.ec2.compute.collector import Batch, Sampler, Target  # noqa: E402
from nodectl.domain import Disk, FileSource, Nic  # noqa: E402
from nodectl.driver import ImageRef, InstanceSpec  # noqa: E402
from nodectl.driver.fake import FakeDriver, GuestLoad  # noqa: E402
from nodectl.stats import GuestStats, NicCounters  # noqa: E402

IID = "i-00000001"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def driver(tmp_path: Path, clock: Clock) -> Iterator[FakeDriver]:
    d = FakeDriver(state_dir=tmp_path / "fake")
    d.clock = clock
    yield d
    d.close()


def _spawn(driver: FakeDriver, tmp_path: Path, iid: str = IID, vcpus: int = 2) -> None:
    for name in ("rootfs.img", "kernel"):
        (tmp_path / name).write_bytes(b"\0" * 65536)
    driver.spawn(InstanceSpec(
        instance_id=iid, image=ImageRef("emi-1", tmp_path / "rootfs.img"),
        kernel=ImageRef("eki-1", tmp_path / "kernel"), vcpus=vcpus, ephemeral_mib=8,
        nics=(Nic(mac="d0:0d:00:00:00:01", bridge="br0", target_dev=f"vn-{iid[2:]}"),)))


def _guest(driver: FakeDriver, iid: str = IID) -> GuestStats:
    return next(g for g in driver.all_stats().guests if g.instance_id == iid)


def test_cpu_network_and_disk_deltas(driver: FakeDriver, clock: Clock, tmp_path: Path) -> None:
    _spawn(driver, tmp_path)
    driver.set_load(IID, GuestLoad(cpu=0.5, net_in_bps=1000, net_out_bps=250, packet_bytes=50,
                                   disk_read_bps=2048, disk_write_bps=1024,
                                   request_bytes=512, disk_latency_s=0.01))
    first = _guest(driver)
    clock.now += 60
    second = _guest(driver)
    d = gm.delta(first, 0.0, second, 60.0)
    assert d is not None
    assert d.cpu_percent == pytest.approx(50.0, abs=0.01)  # half of each of 2 vcpus
    assert (d.net_in_bytes, d.net_out_bytes) == (60000, 15000)
    assert (d.net_in_packets, d.net_out_packets) == (1200, 300)
    values = gm.instance_values(d, ebs_devices=())
    assert values["DiskReadBytes"] == pytest.approx(2048 * 60, abs=2)
    assert values["DiskWriteOps"] == pytest.approx(1024 * 60 / 512, abs=2)
    # the root (vda) is an EBS volume: only the ephemeral disk is instance store
    ebs_root = gm.instance_values(d, ebs_devices=("vda",))
    assert ebs_root["DiskReadBytes"] == pytest.approx(values["DiskReadBytes"] / 2, abs=2)
    vda = next(x for x in d.disks if x.device == "vda")
    vol = gm.volume_values(vda, d.seconds)
    assert vol["VolumeReadBytes"] == pytest.approx(1024 * 60, abs=2)
    ops = vol["VolumeReadOps"] + vol["VolumeWriteOps"]
    assert vol["VolumeQueueLength"] == pytest.approx(ops * 0.01 / 60, rel=0.01)
    assert vol["VolumeIdleTime"] == pytest.approx(60 - ops * 0.01, rel=0.01)


def test_cpu_is_capped_and_an_idle_guest_reads_near_zero(driver: FakeDriver, clock: Clock,
                                                         tmp_path: Path) -> None:
    _spawn(driver, tmp_path, vcpus=1)
    driver.set_load(IID, GuestLoad(cpu=0.001))
    first = _guest(driver)
    clock.now += 300
    d = gm.delta(first, 0.0, _guest(driver), 300.0)
    assert d is not None and d.cpu_percent == pytest.approx(0.1, abs=0.01)
    busy = GuestStats(IID, "running", first.domain_id, first.cpu_time_ns + 2 * 10**9, 1)
    over = gm.delta(first, 0.0, busy, 1.0)  # clock jitter: more cpu than wall time
    assert over is not None and over.cpu_percent == 100.0
    # an overcommitted host: the vcpu ran a third of the time and waited the rest (steal)
    contended = GuestStats(IID, "running", first.domain_id, first.cpu_time_ns + 20 * 10**9, 1,
                           steal_ns=40 * 10**9)
    busy_share = gm.delta(first, 0.0, contended, 60.0)
    assert busy_share is not None and busy_share.cpu_percent == pytest.approx(100.0)
    idle_share = gm.delta(first, 0.0, GuestStats(IID, "running", first.domain_id,
                                                 first.cpu_time_ns + 10**8, 1,
                                                 steal_ns=10**8), 60.0)
    assert idle_share is not None and idle_share.cpu_percent < 0.2


def test_restart_and_backwards_counters_give_no_interval(driver: FakeDriver, clock: Clock,
                                                         tmp_path: Path) -> None:
    _spawn(driver, tmp_path)
    _guest(driver)
    clock.now += 60
    before = _guest(driver)
    assert before.nics[0].rx_bytes > 0
    driver.power_off(IID)
    driver.spawn(InstanceSpec(instance_id=IID, image=ImageRef("emi-1", tmp_path / "rootfs.img"),
                              kernel=ImageRef("eki-1", tmp_path / "kernel")))
    clock.now += 60
    after = _guest(driver)
    assert after.domain_id != before.domain_id
    assert gm.delta(before, 0.0, after, 120.0) is None  # another start: new baseline
    wrapped = GuestStats(IID, "running", before.domain_id, before.cpu_time_ns + 10**9, 2,
                         nics=(NicCounters(before.nics[0].device, rx_bytes=0),))
    assert gm.delta(before, 0.0, wrapped, 60.0) is None  # a counter went backwards
    assert gm.delta(before, 0.0, before, 0.0) is None  # no time passed


def test_dimension_sets_are_those_aws_publishes() -> None:
    sets = gm.ec2_dimension_sets("i-1", "emi-1", "t2.micro", {})
    assert sets == [(("InstanceId", "i-1"),), (("ImageId", "emi-1"),),
                    (("InstanceType", "t2.micro"),), ()]
    grouped = gm.ec2_dimension_sets("i-1", "emi-1", "t2.micro",
                                    {"aws:autoscaling:groupName": "web"})
    assert (("AutoScalingGroupName", "web"),) in grouped and () in grouped


def _target(iid: str = IID, detailed: bool = True, volumes: dict[str, str] | None = None,
            asg: str = "") -> Target:
    return Target(iid, "000000000001", "eucalyptus", "emi-1", "t2.micro", detailed, asg,
                  volumes or {})


def _points(batch: Batch, name: str, dims: gm.Dimensions) -> list[float]:
    out: list[float] = []
    for data in batch.by_account().values():
        for datum in data:
            if datum.name == name and datum.dimensions == dims:
                out += [datum.value] if datum.value is not None else list(datum.values)
    return out


def test_sampler_publishes_each_period_to_every_dimension_set(driver: FakeDriver, clock: Clock,
                                                              tmp_path: Path) -> None:
    _spawn(driver, tmp_path)
    _spawn(driver, tmp_path, "i-00000002")
    driver.set_load(IID, GuestLoad(cpu=1.0))
    driver.set_load("i-00000002", GuestLoad(cpu=0.0))
    sampler = Sampler()
    targets = [_target(asg="web", volumes={"vda": "vol-1"}),
               _target("i-00000002", detailed=False)]
    first = sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    assert _points(first, "CPUUtilization", (("InstanceId", IID),)) == []  # a baseline only
    assert _points(first, "StatusCheckFailed", ()) == [0.0, 0.0]  # checks need no interval
    clock.now += 60
    second = sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    assert _points(second, "CPUUtilization", (("InstanceId", IID),)) == [100.0]
    assert _points(second, "CPUUtilization", (("AutoScalingGroupName", "web"),)) == [100.0]
    assert _points(second, "CPUUtilization", (("InstanceId", "i-00000002"),)) == []  # basic
    assert _points(second, "VolumeReadBytes", (("VolumeId", "vol-1"),)) == [
        pytest.approx(GuestLoad().disk_read_bps * 60 / 2, abs=2)]
    for _ in range(4):
        clock.now += 60
        last = sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    assert _points(last, "CPUUtilization", (("InstanceId", "i-00000002"),)) == [0.0]
    assert sorted(_points(last, "CPUUtilization", ())) == [0.0, 100.0]  # the aggregate
    assert sorted(_points(last, "CPUUtilization", (("InstanceType", "t2.micro"),))) == [
        0.0, 100.0]
    stamps = {d.timestamp.timestamp() for data in last.by_account().values() for d in data
              if d.name == "CPUUtilization" and d.dimensions == (("InstanceId", IID),)}
    assert stamps == {clock.now - 60}  # a datapoint carries the start of its interval


def test_sampler_survives_restarts_and_gaps_without_spikes(driver: FakeDriver, clock: Clock,
                                                           tmp_path: Path) -> None:
    _spawn(driver, tmp_path)
    driver.set_load(IID, GuestLoad(cpu=0.25, net_in_bps=100))
    targets = [_target()]
    sampler = Sampler()
    sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    clock.now += 60
    ok = sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    assert _points(ok, "NetworkIn", (("InstanceId", IID),)) == [6000.0]
    # the collector was away for an hour: that sample is a new baseline, not one big point
    clock.now += 3600
    gap = sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    assert _points(gap, "NetworkIn", (("InstanceId", IID),)) == []
    # a collector restart (new sampler) starts from a baseline as well
    fresh = Sampler()
    assert _points(fresh.collect(targets, driver.all_stats(), clock.now, 300, 60),
                   "NetworkIn", (("InstanceId", IID),)) == []
    # the guest restarts between samples: counters from zero, no negative point
    clock.now += 30
    driver.power_off(IID)
    driver.spawn(InstanceSpec(instance_id=IID, image=ImageRef("emi-1", tmp_path / "rootfs.img"),
                              kernel=ImageRef("eki-1", tmp_path / "kernel")))
    clock.now += 30
    restarted = sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    assert _points(restarted, "NetworkIn", (("InstanceId", IID),)) == []
    clock.now += 60
    after = sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    points = _points(after, "NetworkIn", (("InstanceId", IID),))
    assert points == [pytest.approx(6000.0, abs=2)]


def test_status_checks_when_the_guest_or_node_fails(driver: FakeDriver, clock: Clock,
                                                    tmp_path: Path) -> None:
    _spawn(driver, tmp_path)
    sampler = Sampler()
    targets = [_target()]
    driver.power_off(IID)  # EC2 says running, the guest is off: the instance check fails
    down = sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    assert _points(down, "StatusCheckFailed_Instance", (("InstanceId", IID),)) == [1.0]
    assert _points(down, "StatusCheckFailed_System", (("InstanceId", IID),)) == [0.0]
    assert _points(down, "StatusCheckFailed", (("InstanceId", IID),)) == [1.0]
    gone = sampler.collect(targets, None, clock.now, 300, 60)  # the node did not answer
    assert _points(gone, "StatusCheckFailed_System", (("InstanceId", IID),)) == [1.0]
    assert _points(gone, "StatusCheckFailed", ()) == [1.0]


def test_disk_hot_plug_counts_from_zero(driver: FakeDriver, clock: Clock,
                                        tmp_path: Path) -> None:
    _spawn(driver, tmp_path)
    first = _guest(driver)
    (tmp_path / "vol.img").write_bytes(b"\0" * 65536)
    driver.attach_disk(IID, Disk("vdc", FileSource(str(tmp_path / "vol.img"), "raw")))
    clock.now += 60
    d = gm.delta(first, 0.0, _guest(driver), 60.0)
    assert d is not None
    assert [x.device for x in d.disks] == ["vda", "vdb", "vdc"]
    assert all(x.read_bytes >= 0 and x.write_bytes >= 0 for x in d.disks)


def test_multi_attach_volume_adds_up_its_instances(driver: FakeDriver, clock: Clock,
                                                   tmp_path: Path) -> None:
    """AWS aggregates a Multi-Attach volume's metrics across its attached instances: one
    datapoint a sample with both guests' bytes, operations and time in flight."""
    _spawn(driver, tmp_path)
    _spawn(driver, tmp_path, "i-00000002")
    (tmp_path / "shared.img").write_bytes(b"\0" * 65536)
    for iid in (IID, "i-00000002"):
        driver.attach_disk(iid, Disk("vdc", FileSource(str(tmp_path / "shared.img"), "raw")))
    driver.set_load("i-00000002", GuestLoad(disk_write_bps=3 * 8192.0))
    sampler = Sampler()
    targets = [Target(iid, "000000000001", "eucalyptus", "emi-1", "t2.micro", True, "",
                      {"vdc": "vol-m"}, frozenset({"vol-m"})) for iid in (IID, "i-00000002")]
    sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    clock.now += 60
    batch = sampler.collect(targets, driver.all_stats(), clock.now, 300, 60)
    volume = (("VolumeId", "vol-m"),)
    per_disk = 60 / 3  # a guest's load is spread over its three disks (root, ephemeral, vdc)
    assert _points(batch, "VolumeWriteBytes", volume) == [
        pytest.approx((8192 + 3 * 8192) * per_disk, abs=2)]
    assert _points(batch, "VolumeReadBytes", volume) == [pytest.approx(2 * 4096 * per_disk,
                                                                       abs=2)]
    writes = _points(batch, "VolumeWriteOps", volume)
    assert writes == [pytest.approx(4 * 2 * per_disk, abs=1)]  # 4 KiB requests
    [queue] = _points(batch, "VolumeQueueLength", volume)
    [idle] = _points(batch, "VolumeIdleTime", volume)
    ops = (2 * 4096 + 4 * 8192) * per_disk / 4096
    assert queue == pytest.approx(ops * GuestLoad().disk_latency_s / 60, rel=0.01)
    assert idle == pytest.approx(60 - ops * GuestLoad().disk_latency_s, rel=0.01)
    # a Multi-Attach volume is not counted as the instances' own (instance store) disks
    assert _points(batch, "DiskWriteBytes", (("InstanceId", IID),)) == [
        pytest.approx(2 * 8192 * per_disk, abs=2)]
