"""A/B of the per-call API path: two git worktrees' clouds started in turn (order
alternating by round), each measured for server CPU per call.

- ``cw``: GetCallerIdentity (the cheapest authenticated call, 1,000 pre-signed query
  POSTs over 4 connections) and PutMetricData capacity (``bench.cloudwatch``'s 4 client
  processes of pre-signed requests, JSON and query, 20 values a call);
- ``iam``: ``bench.iam_vs_moto``'s run (CreateUser, ListUsers, paginations), with
  moto's figures once beside them (``--moto``).

Run: ``python -m bench.frontdoor_ab --old <worktree> --new <worktree> --part cw
--rounds 3``; one JSON line per tree and round, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.cloudwatch import put_capacity, start_cloud_of
from bench.common import Server, cpu_seconds, start_moto
from bench.iam_vs_moto import run as iam_run

GCI_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


def gci_cpu_ms(server: Server, calls: int = 1000, connections: int = 4) -> float:
    """Server CPU per GetCallerIdentity, ms (20 distinct pre-signed requests in turn)."""
    creds = Credentials(server.access_key, server.secret_key)
    signed = []
    for _ in range(20):
        request = AWSRequest("POST", server.endpoint + "/", data=GCI_BODY, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(creds, "sts", "us-east-1").add_auth(request)
        signed.append(dict(request.headers))

    async def main() -> float:
        async with aiohttp.ClientSession() as session:
            async def post(headers: dict[str, str]) -> None:
                async with session.post(server.endpoint + "/", data=GCI_BODY,
                                        headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status

            for headers in signed:  # warm: connections, caches
                await post(headers)
            cpu0 = cpu_seconds(server.process.pid)

            async def worker() -> None:
                for i in range(calls // connections):
                    await post(signed[i % len(signed)])

            await asyncio.gather(*(worker() for _ in range(connections)))
            return cpu_seconds(server.process.pid) - cpu0

    return asyncio.run(main()) / calls * 1000


def measure_cw(server: Server, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"gci_ms": round(gci_cpu_ms(server), 3)}
    for protocol in ("json", "query"):
        got = put_capacity(server, seconds, protocol, 4)
        out[f"{protocol}_ms"] = round(got["cpu_ms_per_call"], 3)
        out[f"{protocol}_rps"] = round(got["rps"])
    return out


def measure_iam(server: Server) -> dict[str, Any]:
    return {k: round(v, 3) for k, v in iam_run(server).items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", required=True, help="worktree of the code before")
    parser.add_argument("--new", required=True, help="worktree of the code after")
    parser.add_argument("--part", choices=("cw", "iam"), default="cw")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--moto", action="store_true", help="iam: moto's figures first")
    args = parser.parse_args()
    if args.part == "iam" and args.moto:
        moto = start_moto()
        try:
            print(json.dumps({"tree": "moto", **measure_iam(moto)}), flush=True)
        finally:
            moto.stop()
    for n in range(args.rounds):
        order = [("old", args.old), ("new", args.new)]
        for name, tree in order if n % 2 == 0 else order[::-1]:
            cloud = start_cloud_of(tree)
            try:
                time.sleep(1)
                load = os.getloadavg()[0]
                got = measure_cw(cloud, args.seconds) if args.part == "cw" else measure_iam(cloud)
                print(json.dumps({"round": n, "tree": name, **got,
                                  "load": [round(load, 2), round(os.getloadavg()[0], 2)]}),
                      flush=True)
            finally:
                cloud.stop()


if __name__ == "__main__":
    main()
