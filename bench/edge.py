"""Time from AuthorizeSecurityGroupIngress returning to the rule working on the data plane.

Through the live server: `cloudctl up` in a subprocess drives a lab host
namespace (`cloud.network.hosts`); two instance namespaces (server in a
group with no ingress, client in `default`). Each round authorizes tcp
from the client's /32 with boto3, then probes (TCP connect every ~10 ms)
until the connection is admitted; then revokes and waits until refused.
Prints p50/p90/max and writes bench/results/edge.md.

Run as root: python -m bench.edge [rounds]
"""

from __future__ import annotations

import json
import secrets
import shutil
import statistics
import sys
import time
from pathlib import Path

from netd.lab import Lab, Listener, tcp_probe
from tests.integration.test_edge_network import Edge
from tests.support import new_cloud


def _until(pred: object, timeout: float = 10.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if pred():  # type: ignore[operator]
            return time.perf_counter() - t0
        time.sleep(0.01)
    raise TimeoutError("rule never became effective")


def main(rounds: int = 20) -> int:
    cloud = new_cloud()
    with Lab() as lab:
        cloud.start()
        edge = Edge(lab, cloud)
        try:
            edge.configure()
            edge.wait_sync()
            ec2 = cloud.client("ec2")
            gid = ec2.create_security_group(GroupName=f"bench-{secrets.token_hex(3)}",
                                            Description="bench")["GroupId"]
            server, client = edge.instance([gid]), edge.instance(None)
            perm = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                    "CidrIp": f"{client['private_ip']}/32"}
            admit: list[float] = []
            refuse: list[float] = []
            with Listener(server["ns"], 22):
                for _ in range(rounds):
                    ec2.authorize_security_group_ingress(GroupId=gid, **perm)
                    admit.append(_until(lambda: tcp_probe(
                        client["ns"], server["private_ip"], 22, timeout=0.05) is not None))
                    ec2.revoke_security_group_ingress(GroupId=gid, **perm)
                    refuse.append(_until(lambda: tcp_probe(
                        client["ns"], server["private_ip"], 22, timeout=0.05) is None))
            show = edge.show()
        finally:
            cloud.stop()
            edge.teardown()
            shutil.rmtree(cloud.data_dir, ignore_errors=True)

    def stats(xs: list[float]) -> str:
        q = statistics.quantiles(xs, n=10)
        return (f"p50 {statistics.median(xs) * 1000:.0f} ms, p90 {q[8] * 1000:.0f} ms, "
                f"max {max(xs) * 1000:.0f} ms")

    lines = [
        "# EDGE: API change to data plane (bench/edge.py)",
        "",
        f"{rounds} rounds through the live server (SQLite, 1 worker), one lab host namespace,",
        "two instance namespaces; timed from the boto3 call returning to the first TCP",
        "connect that is admitted (authorize) / refused (revoke), probing every ~10 ms.",
        "",
        f"- authorize-security-group-ingress -> admitted: {stats(admit)}",
        f"- revoke-security-group-ingress -> refused: {stats(refuse)}",
        f"- last host apply step seconds: {json.dumps(show['hosts'][0]['seconds'])}",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on the 2-core development machine.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).resolve().parent / "results" / "edge.md"
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
