"""Thousands of malformed requests, generated from the models, sent signed to the live server.

Every one must come back as a 4xx AWS error in the service's envelope: not a
single 5xx, not a traceback, not a success.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter

import aiohttp
import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest

from cloudctl.errors import AwsError
from cloudctl.protocol import codec_for
from cloudctl.server.router import SIGNING_NAMES
from tests.fuzzgen import FuzzCase, generate_cases
from tests.support import LiveCloud


def _signed(cloud: LiveCloud, case: FuzzCase) -> tuple[str, str, dict[str, str], bytes]:
    url = cloud.endpoint + case.path + (f"?{case.query}" if case.query else "")
    headers = {k: v for k, v in case.headers.items() if k.lower() not in ("host", "content-length")}
    request = AWSRequest(method=case.method, url=url, data=case.body, headers=headers)
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    signing = SIGNING_NAMES.get(case.service, case.service)
    if case.service == "s3":
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        botocore.auth.S3SigV4Auth(creds, signing, cloud.region).add_auth(request)
    else:
        botocore.auth.SigV4Auth(creds, signing, cloud.region).add_auth(request)
    return case.method, url, dict(request.headers), case.body


async def _send_all(cloud: LiveCloud, cases: list[FuzzCase]) -> list[tuple[FuzzCase, int, bytes]]:
    results: list[tuple[FuzzCase, int, bytes]] = []
    queue: asyncio.Queue[FuzzCase] = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, skip_auto_headers=("Content-Type",)) as session:

        async def worker() -> None:
            while not queue.empty():
                case = queue.get_nowait()
                method, url, headers, body = _signed(cloud, case)
                async with session.request(method, aiohttp.client.URL(url, encoded=True),
                                           headers=headers, data=io.BytesIO(body)) as resp:
                    results.append((case, resp.status, await resp.read()))

        await asyncio.gather(*(worker() for _ in range(8)))
    return results


def _malformed(case: FuzzCase) -> bool:
    """True when the codec itself refuses the case (a few mutations stay well-formed)."""
    try:
        codec_for(case.service).parse(case.to_wire())
    except AwsError:
        return True
    return False


def test_malformed_requests_get_4xx_over_http(sqlite_cloud: LiveCloud) -> None:
    cases = [c for c in generate_cases(ops_per_service=25)
             if c.service in ("ec2", "iam", "sts", "s3", "elb", "autoscaling", "cloudwatch",
                              "cloudformation") and _malformed(c)]
    assert len(cases) >= 2000
    results = asyncio.run(_send_all(sqlite_cloud, cases))
    assert len(results) == len(cases)
    bad = [f"{c.service}/{c.operation}/{c.kind}: {status} {body[:200]!r}"
           for c, status, body in results
           if not 400 <= status < 500 or b"Traceback" in body]
    assert not bad, f"{len(bad)} requests escaped as non-4xx:\n" + "\n".join(bad[:20])
    kinds = Counter(c.kind for c, _, _ in results)
    assert len(kinds) >= 25
    log = sqlite_cloud.log_path.read_text()
    assert "Traceback" not in log
