"""CORS: preflight OPTIONS answered from the bucket's rules (set with boto3), and the
CORS headers on actual responses, driven with plain HTTP as a browser would."""

from __future__ import annotations

from tests.api.s3_helpers import bucket_name, http
from tests.support import LiveCloud

RULES = {"CORSRules": [
    {"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["Content-*", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-request-id"],
     "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["http://*.example.org"], "AllowedMethods": ["GET", "HEAD"]},
]}


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_preflight_and_actual_headers(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("cors")
    s3.create_bucket(Bucket=name)
    url = f"{cloud.endpoint}/{name}/photo.jpg"
    ask = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
           "Access-Control-Request-Headers": "content-type, x-amz-date"}
    status, body, _ = http("OPTIONS", url, headers=ask)
    assert status == 403 and b"AccessForbidden" in body  # no CORS configuration yet
    s3.put_bucket_cors(Bucket=name, CORSConfiguration=RULES)
    status, _, headers = http("OPTIONS", url, headers=ask)
    got = _lower(headers)
    assert status == 200
    assert got["access-control-allow-origin"] == "https://app.example.com"
    assert got["access-control-allow-methods"] == "GET, PUT"
    assert got["access-control-allow-headers"] == "content-type, x-amz-date"
    assert got["access-control-max-age"] == "600"
    assert got["access-control-expose-headers"] == "ETag, x-amz-request-id"
    # the wildcard origin rule, the virtual-host-free Eucalyptus path too
    status, _, headers = http("OPTIONS", f"{cloud.endpoint}/services/objectstorage/{name}/x",
                              headers={"Origin": "http://shop.example.org",
                                       "Access-Control-Request-Method": "HEAD"})
    assert status == 200
    assert _lower(headers)["access-control-allow-origin"] == "http://shop.example.org"
    for refused in ({**ask, "Origin": "https://evil.example.net"},
                    {**ask, "Access-Control-Request-Method": "DELETE"},
                    {**ask, "Access-Control-Request-Headers": "authorization"}):
        assert http("OPTIONS", url, headers=refused)[0] == 403, refused
    assert http("OPTIONS", url, headers={"Access-Control-Request-Method": "GET"})[0] == 400
    assert http("OPTIONS", f"{cloud.endpoint}/no-such-bucket-cors/x", headers=ask)[0] == 404
    # actual requests: headers only when the Origin matches a rule for the method
    s3.put_object(Bucket=name, Key="photo.jpg", Body=b"jpeg", ACL="public-read")
    status, body, headers = http("GET", url, headers={"Origin": "https://app.example.com"})
    got = _lower(headers)
    assert (status, body) == (200, b"jpeg")
    assert got["access-control-allow-origin"] == "https://app.example.com"
    assert got["access-control-expose-headers"] == "ETag, x-amz-request-id"
    status, _, headers = http("GET", url, headers={"Origin": "https://evil.example.net"})
    assert status == 200 and "access-control-allow-origin" not in _lower(headers)
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": name,
                                                                "Key": "photo.jpg"})
    headers = http("GET", presigned, headers={"Origin": "http://a.example.org"})[2]
    assert _lower(headers)["access-control-allow-origin"] == "http://a.example.org"
    s3.delete_bucket_cors(Bucket=name)
    assert http("OPTIONS", url, headers=ask)[0] == 403
