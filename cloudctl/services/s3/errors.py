"""S3 error codes as AWS answers them (code, status, message, extra fields)."""

from __future__ import annotations

from typing import Any

from cloudctl.errors import AwsError


def s3_error(code: str, message: str, status: int = 400, **fields: Any) -> AwsError:
    return AwsError(message, code=code, status=status, **fields)


def no_such_bucket(bucket: str) -> AwsError:
    return s3_error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def no_such_key(bucket: str, key: str) -> AwsError:
    return s3_error("NoSuchKey", "The specified key does not exist.", 404, Key=key,
                    BucketName=bucket)


def no_such_version(key: str, version_id: str) -> AwsError:
    return s3_error("NoSuchVersion", "The specified version does not exist.", 404, Key=key,
                    VersionId=version_id)


def no_such_upload(upload_id: str) -> AwsError:
    return s3_error("NoSuchUpload", "The specified upload does not exist. The upload ID may be "
                    "invalid, or the upload may have been aborted or completed.", 404,
                    UploadId=upload_id)


def access_denied() -> AwsError:
    return s3_error("AccessDenied", "Access Denied", 403)


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> AwsError:
    return s3_error("InvalidArgument", message, 400, ArgumentName=name, ArgumentValue=value)


def precondition_failed(condition: str) -> AwsError:
    return s3_error("PreconditionFailed", "At least one of the pre-conditions you specified "
                    "did not hold", 412, Condition=condition)


def not_modified() -> AwsError:
    return s3_error("NotModified", "Not Modified", 304)


def malformed_xml() -> AwsError:
    return s3_error("MalformedXML", "The XML you provided was not well-formed or did not "
                    "validate against our published schema")


def not_implemented(what: str) -> AwsError:
    return s3_error("NotImplemented", f"{what} is not implemented by this cloud.", 501)
