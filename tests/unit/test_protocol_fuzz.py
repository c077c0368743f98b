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
