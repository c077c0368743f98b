"""Every malformed request from tests/fuzzgen.py must become an AwsError with a 4xx status."""

from __future__ import annotations

from collections import Counter

from cloudctl.errors import AwsError
from cloudctl.protocol import codec_for
from tests.fuzzgen import generate_cases


def test_fuzz_cases_all_answer_4xx() -> None:
    cases = generate_cases()
    assert len(cases) >= 2000
    assert len({case.kind for case in cases}) >= 30
    failures: list[str] = []
    for case in cases:
        codec = codec_for(case.service)
        try:
            parsed = codec.parse(case.to_wire())
        except AwsError as exc:
            if not 400 <= exc.status < 500:
                failures.append(f"{case.service}/{case.operation}/{case.kind}: status {exc.status}")
                continue
            # the error must also be expressible in the protocol the request spoke
            response = codec.serialize_error(exc, "req-1", codec.detect_protocol(case.to_wire()))
            assert response.status == exc.status
        except Exception as exc:
            failures.append(
                f"{case.service}/{case.operation}/{case.kind}: {type(exc).__name__}: {exc}"
            )
        else:
            failures.append(
                f"{case.service}/{case.operation}/{case.kind}: accepted as "
                f"{parsed.operation.name} {str(parsed.params)[:200]}"
            )
    kinds = Counter(f.split(":")[0].rsplit("/", 1)[-1] for f in failures)
    assert not failures, f"{len(failures)} of {len(cases)} failed {kinds}:\n" + "\n".join(
        failures[:40]
    )


async def test_sigv2_placement_cases_all_refused() -> None:
    """Every misplaced / duplicated / mistyped SigV2 parameter set: 4xx before any handler."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from cloudctl.auth.verify import authenticate
    from tests.fuzzgen import sigv2_cases
    from tests.unit.test_auth_support import AKID, SECRET, store

    host = "cloud.local:8773"
    cases = sigv2_cases(AKID, SECRET, host, datetime.now(UTC))
    assert len({case.kind for case in cases}) >= 15
    accepted = []
    for case in cases:
        wire = replace(case, headers={**case.headers, "Host": host}).to_wire()
        try:
            await authenticate(wire, store(), service="ec2", protocol="ec2")
            codec_for("ec2").parse(wire)
        except AwsError as exc:
            assert 400 <= exc.status < 500, (case.kind, exc.status)
        else:
            accepted.append(case.kind)
    assert not accepted
