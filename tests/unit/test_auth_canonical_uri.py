"""The canonical URI SigV4 signs (``cloudctl.auth.canonical.canonical_uri``), as botocore
builds it: S3's path encoded once and kept as sent, every other service's normalised
and encoded twice; the root path of the query and JSON calls is ``/`` for both."""

from __future__ import annotations

from cloudctl.auth.canonical import canonical_uri


def test_root_and_empty_paths() -> None:
    for s3 in (False, True):
        assert canonical_uri("/", s3=s3) == "/"
        assert canonical_uri("", s3=s3) == "/"


def test_other_services_normalise_and_encode_twice() -> None:
    assert canonical_uri("/a/./b/../c", s3=False) == "/a/c"
    assert canonical_uri("//x//y/", s3=False) == "/x/y/"
    assert canonical_uri("/a%20b/%7Ec", s3=False) == "/a%2520b/~c"
    assert canonical_uri("/.", s3=False) == "/"


def test_s3_keeps_the_path_encoded_once() -> None:
    assert canonical_uri("/b/a/./k", s3=True) == "/b/a/./k"
    assert canonical_uri("/b/a%20b", s3=True) == "/b/a%20b"
    assert canonical_uri("/b/%7Ek", s3=True) == "/b/~k"
