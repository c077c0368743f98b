"""The series module's datum constructors agree with :class:`Datum` itself."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudctl.services.cloudwatch.series import Datum, plain_datum


def test_plain_datum_is_the_keyword_datum_with_datums_defaults() -> None:
    stamp = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    dims = (("InstanceId", "i-0123456789abcdef0"),)
    fast = plain_datum("AWS/EC2", "CPUUtilization", dims, stamp, 42.5, "Percent")
    slow = Datum(namespace="AWS/EC2", name="CPUUtilization", dimensions=dims,
                 timestamp=stamp, value=42.5, unit="Percent")
    assert fast == slow
    assert fast._asdict() == slow._asdict()
    assert fast.storage_resolution == 60 and fast.stats is None
    assert fast.values == () and fast.counts == ()
