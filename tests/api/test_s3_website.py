"""S3 static website hosting: configuration, and the website endpoint serving index and
error documents, redirects and HTML errors, public objects only."""

from __future__ import annotations

import http.client

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud


def _get(cloud: LiveCloud, host: str, path: str,
         method: str = "GET") -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=30)
    try:
        conn.request(method, path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def test_website_endpoint_serves_index_and_error(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("site")
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_website(Bucket=name)
    assert exc.value.response["Error"]["Code"] == "NoSuchWebsiteConfiguration"
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "old/"},
                          "Redirect": {"ReplaceKeyPrefixWith": "new/"}}]})
    assert s3.get_bucket_website(Bucket=name)["IndexDocument"] == {"Suffix": "index.html"}
    for key, body in (("index.html", b"<h1>home</h1>"), ("docs/index.html", b"docs"),
                      ("error.html", b"<h1>oops</h1>")):
        s3.put_object(Bucket=name, Key=key, Body=body, ContentType="text/html",
                      ACL="public-read")
    s3.put_object(Bucket=name, Key="secret.html", Body=b"no", ContentType="text/html")
    # anonymous listing allowed: a miss is a 404 (without it S3 answers 403, as here)
    s3.put_bucket_acl(Bucket=name, ACL="public-read")
    host = f"{name}.s3-website-{cloud.region}.cloud.example"
    status, body, headers = _get(cloud, host, "/")
    assert (status, body) == (200, b"<h1>home</h1>")
    assert headers["Content-Type"] == "text/html"
    assert _get(cloud, host, "/docs/")[:2] == (200, b"docs")
    status, _, headers = _get(cloud, host, "/docs")
    assert status == 302 and headers["Location"] == "/docs/"
    status, body, headers = _get(cloud, host, "/missing.html")
    assert (status, body) == (404, b"<h1>oops</h1>")
    status, _, headers = _get(cloud, host, "/old/page.html")
    assert status == 301 and headers["Location"].endswith("/new/page.html")
    # not public: the website answers 403 (its error document), never the object
    status, body, _ = _get(cloud, f"{name}.s3-website.{cloud.region}.cloud.example",
                           "/secret.html")
    assert (status, body) == (403, b"<h1>oops</h1>")
    status, _, _ = _get(cloud, host, "/index.html", method="HEAD")
    assert status == 200
    s3.delete_bucket_website(Bucket=name)
    status, body, headers = _get(cloud, host, "/")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert b"NoSuchWebsiteConfiguration" in body


def test_website_redirect_all_and_html_errors(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("site-r")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration={
        "RedirectAllRequestsTo": {"HostName": "example.org", "Protocol": "https"}})
    status, _, headers = _get(cloud, "localhost", f"/_website/{name}/a/b.html")
    assert status == 301 and headers["Location"] == "https://example.org/a/b.html"
    plain = bucket_name("site-p")
    s3.create_bucket(Bucket=plain)
    s3.put_bucket_website(Bucket=plain, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}})
    status, body, headers = _get(cloud, "localhost", f"/_website/{plain}/nothing")
    assert status == 403 and headers["Content-Type"].startswith("text/html")
    assert b"<html>" in body and b"AccessDenied" in body
    s3.put_bucket_acl(Bucket=plain, ACL="public-read")
    status, body, headers = _get(cloud, "localhost", f"/_website/{plain}/nothing")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert b"<html>" in body and b"NoSuchKey" in body
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_website(Bucket=plain, WebsiteConfiguration={
            "ErrorDocument": {"Key": "e.html"}})
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
