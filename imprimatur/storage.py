"""Where the platform keeps its files: `STORAGE_URL` → Django's ``STORAGES["default"]``.

- unset, ``file://`` → the local ``MEDIA_ROOT`` folder (the embedded default);
- ``file:///srv/media`` or ``/srv/media`` → that local folder;
- ``s3://BUCKET?endpoint=http://host:9000&region=us-east-1`` → an S3 bucket through
  django-storages. The bucket may come from ``AWS_STORAGE_BUCKET_NAME`` instead
  (``s3://``), the endpoint from ``AWS_S3_ENDPOINT_URL`` (unset: AWS itself); the
  credentials from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (or whatever else boto3
  finds: a profile, an instance role). ``expire=SECONDS`` sets how long a signed URL lasts
  (default 300; the platform itself streams files through permission-checked views).

Objects are private (no ACL is sent, so the bucket's own private default holds), never
overwritten (a name in use gets a suffix), and the client sends and checks checksums only
where S3 requires them: recent boto3 adds CRC32 checksums by default, which many
S3-compatible servers refuse.

Plain Python and django-storages' option names: settings.py calls `storage_backend` once.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

FILESYSTEM_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "storages.backends.s3.S3Storage"
S3_QUERY_KEYS = {"endpoint", "region", "expire"}
DEFAULT_URL_EXPIRE = 300


def storage_backend(url: str, *, env: Mapping[str, str]) -> dict:
    """The ``STORAGES["default"]`` entry for `url`; `env` supplies the AWS_* fallbacks.

    Raises ImproperlyConfigured, naming STORAGE_URL and what is wrong, for a URL it cannot
    use, so that a process with a bad setting stops at start rather than at its first file.
    """
    url = (url or "").strip()
    if not url or url == "file://":
        # No location: FileSystemStorage follows MEDIA_ROOT (and a test's override of it).
        return {"BACKEND": FILESYSTEM_BACKEND}
    if url.startswith("/"):
        return {"BACKEND": FILESYSTEM_BACKEND, "OPTIONS": {"location": url}}
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            raise ImproperlyConfigured(
                f"STORAGE_URL {url!r}: a local folder is file:///absolute/path (three slashes)."
            )
        return {"BACKEND": FILESYSTEM_BACKEND, "OPTIONS": {"location": parts.path}}
    if parts.scheme == "s3":
        return {"BACKEND": S3_BACKEND, "OPTIONS": _s3_options(url, parts, env)}
    raise ImproperlyConfigured(
        f"STORAGE_URL {_redacted(url)!r}: unknown scheme {parts.scheme or '(none)'!r}; use "
        "file:///path (or leave it unset for MEDIA_ROOT) or s3://bucket?endpoint=…&region=…."
    )


def _s3_options(url: str, parts, env: Mapping[str, str]) -> dict:
    from botocore.config import Config

    shown = _redacted(url)
    if parts.username or parts.password:
        raise ImproperlyConfigured(
            f"STORAGE_URL {shown!r}: put credentials in AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, not in the URL."
        )
    if parts.path not in ("", "/"):
        raise ImproperlyConfigured(
            f"STORAGE_URL {shown!r}: s3://BUCKET takes no path after the bucket name."
        )
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - S3_QUERY_KEYS)
    if unknown:
        raise ImproperlyConfigured(
            f"STORAGE_URL {shown!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(S3_QUERY_KEYS))}."
        )
    one = {key: values[-1] for key, values in query.items()}
    bucket = parts.hostname or env.get("AWS_STORAGE_BUCKET_NAME", "")
    if not bucket:
        raise ImproperlyConfigured(
            f"STORAGE_URL {shown!r} names no bucket: use s3://BUCKET or set "
            "AWS_STORAGE_BUCKET_NAME."
        )
    endpoint = one.get("endpoint") or env.get("AWS_S3_ENDPOINT_URL", "") or None
    if endpoint is not None:
        endpoint_parts = urlsplit(endpoint)
        if endpoint_parts.scheme not in ("http", "https") or not endpoint_parts.netloc:
            raise ImproperlyConfigured(
                f"STORAGE_URL {shown!r}: the endpoint {endpoint!r} is not an http(s) URL."
            )
    try:
        expire = int(one.get("expire", DEFAULT_URL_EXPIRE))
    except ValueError:
        expire = 0
    if expire <= 0:
        raise ImproperlyConfigured(
            f"STORAGE_URL {shown!r}: expire must be a positive number of seconds."
        )
    region = one.get("region") or env.get("AWS_S3_REGION_NAME", "") or None
    # A custom endpoint (SeaweedFS, MinIO, Ceph…) rarely has per-bucket DNS names.
    addressing = "path" if endpoint else "auto"
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "region_name": region,
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": expire,
        "file_overwrite": False,
        # Files up to this size are read into memory; larger ones spill to a temporary file.
        "max_memory_size": 16 * 1024 * 1024,
        # django-storages ignores addressing_style and signature_version when client_config
        # is given, so they are set here.
        "client_config": Config(
            s3={"addressing_style": addressing},
            signature_version="s3v4",
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    }


def _redacted(url: str) -> str:
    """`url` without a password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
