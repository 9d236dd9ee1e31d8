"""The witness: every signed checkpoint is also written outside the database, to a place the
platform only appends to (``IMPRIMATUR_AUDIT_WITNESS``), so that someone who can rewrite the
database (events and checkpoint rows alike) cannot rewrite what the witness holds.

- a file (the default ``var/audit-witness/checkpoints.jsonl``, or ``file:///path``, or a
  path): one JSON line per checkpoint, opened with O_APPEND under an exclusive ``flock``
  and fsynced before the checkpoint's transaction commits;
- ``s3://BUCKET/PREFIX?endpoint=…&region=…&retain_days=3650&lock_mode=COMPLIANCE``: one
  object per checkpoint (``PREFIX`` + the sequence, 20 digits, + its time). When the bucket
  has S3 Object Lock enabled each object is written with that retention, so not even the
  bucket's owner can delete it before then; with versioning, an overwrite leaves the first
  version, and a key with more than one version is reported. Credentials: boto3's chain
  (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, a role).

An entry (format ``imprimatur-audit-witness/1``) is the checkpoint's signed fields
(``created_at``, ``hash``, ``key_id``, ``sequence`` = tree size, ``tree_root``) and
``signature``, plus, unsigned but checked against the signed roots: ``previous`` (the size and
root of the checkpoint before), ``consistency`` (the RFC 6962 proof that the previous tree is
a prefix of this one, merkle.consistency_path) and ``hashes`` (the hashes of the events since
the previous checkpoint, which locate a rewrite to its first event; their tree must give the
signed root). CHAIN.md describes it for other implementations.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from governance.audit.chain import canonical_json
from governance.audit.signing import checkpoint_signed_fields

WITNESS_FORMAT = "imprimatur-audit-witness/1"
SIGNED = ("created_at", "hash", "key_id", "sequence", "tree_root")
S3_KEYS = {"endpoint", "region", "retain_days", "lock_mode"}
READERS = 16  # objects an S3 witness reads at once when verifying


class WitnessError(Exception):
    """The witness cannot be written or read, or holds something that is not an entry."""


def witness_entry(checkpoint, *, previous, consistency, hashes) -> dict:
    """The witness's entry for a checkpoint: ``previous`` is (size, root hex) or None."""
    return {
        "format": WITNESS_FORMAT,
        **checkpoint_signed_fields(checkpoint),
        "signature": checkpoint.signature,
        "previous": None
        if previous is None
        else {"sequence": previous[0], "tree_root": previous[1]},
        "consistency": [node.hex() for node in consistency],
        "hashes": list(hashes),
    }


def entry_line(entry: dict) -> str:
    return canonical_json(entry) + "\n"


def parse_entry(text: str, where: str) -> dict:
    try:
        entry = json.loads(text)
    except ValueError:
        raise WitnessError(f"{where} is not JSON.") from None
    if not isinstance(entry, dict) or entry.get("format") != WITNESS_FORMAT:
        raise WitnessError(f"{where} is not a {WITNESS_FORMAT} entry.")
    missing = [name for name in (*SIGNED, "signature") if name not in entry]
    if missing or not isinstance(entry["sequence"], int):
        raise WitnessError(f"{where} lacks {', '.join(missing) or 'an integer sequence'}.")
    return entry


def parse_lines(lines, where: str) -> list[dict]:
    return [
        parse_entry(line, f"line {number} of {where}")
        for number, line in enumerate(lines, 1)
        if line.strip()
    ]


class FileWitness:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return f"file {self.path}"

    def append(self, entry: dict) -> None:
        created = not self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as error:
            raise WitnessError(f"Writing to the witness {self} failed: {error}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            data = entry_line(entry).encode("utf-8")
            if os.write(descriptor, data) != len(data):
                raise WitnessError(f"Writing to the witness {self} was cut short.")
            os.fsync(descriptor)
        except OSError as error:
            raise WitnessError(f"Writing to the witness {self} failed: {error}") from None
        finally:
            os.close(descriptor)  # releases the lock
        if created:  # the new name itself must survive a crash
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def entries(self) -> list[dict]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            raise WitnessError(f"Reading the witness {self} failed: {error}") from None
        return parse_lines(text.splitlines(), str(self.path))


class S3Witness:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - S3_KEYS)
        if not parts.hostname or unknown:
            raise ImproperlyConfigured(
                f"IMPRIMATUR_AUDIT_WITNESS {url!r}: use s3://BUCKET/PREFIX?endpoint=…&region=…"
                f"&retain_days=…&lock_mode=COMPLIANCE|GOVERNANCE"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
        self.bucket = parts.hostname
        self.prefix = parts.path.lstrip("/")
        self.endpoint = query.get("endpoint") or None
        self.region = query.get("region") or None
        try:
            self.retain_days = int(query.get("retain_days", "3650"))
        except ValueError:
            self.retain_days = 0
        self.lock_mode = query.get("lock_mode", "COMPLIANCE").upper()
        if self.retain_days <= 0 or self.lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise ImproperlyConfigured(
                f"IMPRIMATUR_AUDIT_WITNESS {url!r}: retain_days must be a positive number "
                "of days and lock_mode COMPLIANCE or GOVERNANCE."
            )
        self._client = None
        self._locked: bool | None = None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                region_name=self.region,
                config=Config(
                    s3={"addressing_style": "path" if self.endpoint else "auto"},
                    signature_version="s3v4",
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    max_pool_connections=READERS,
                ),
            )
        return self._client

    def object_lock_enabled(self) -> bool:
        """Whether the bucket has Object Lock (asked once per process)."""
        if self._locked is None:
            from botocore.exceptions import ClientError

            try:
                configuration = self.client.get_object_lock_configuration(Bucket=self.bucket)
            except ClientError:  # ObjectLockConfigurationNotFoundError, or not supported
                self._locked = False
            else:
                lock = configuration.get("ObjectLockConfiguration", {})
                self._locked = lock.get("ObjectLockEnabled") == "Enabled"
        return self._locked

    def key_for(self, entry: dict) -> str:
        moment = entry["created_at"].replace("-", "").replace(":", "").replace(".", "")
        return f"{self.prefix}{entry['sequence']:020d}-{moment}.json"

    def append(self, entry: dict) -> None:
        body = entry_line(entry).encode("utf-8")
        arguments = {
            "Bucket": self.bucket,
            "Key": self.key_for(entry),
            "Body": body,
            "ContentType": "application/json",
            # Object Lock requires an integrity header on the write (S3 names MD5: a checksum
            # of the transfer, not a security hash).
            "ContentMD5": base64.b64encode(
                hashlib.md5(body, usedforsecurity=False).digest()
            ).decode("ascii"),
        }
        if self.object_lock_enabled():
            arguments["ObjectLockMode"] = self.lock_mode
            arguments["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=self.retain_days
            )
        try:
            self.client.put_object(**arguments)
        except Exception as error:
            raise WitnessError(f"Writing to the witness {self} failed: {error}") from error

    def entries(self) -> list[dict]:
        try:
            return self._entries()
        except WitnessError:
            raise
        except Exception as error:
            raise WitnessError(f"Reading the witness {self} failed: {error}") from error

    def _entries(self) -> list[dict]:
        versions: dict[str, list[str]] = {}
        if self.object_lock_enabled():  # versioned: an overwrite would add a version
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for version in (*page.get("Versions", []), *page.get("DeleteMarkers", [])):
                    versions.setdefault(version["Key"], []).append(version["VersionId"])
        else:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    versions[item["Key"]] = []
        for key, found in versions.items():
            if len(found) > 1:
                raise WitnessError(f"The witness object {key} was overwritten or deleted.")

        def read(key: str) -> dict:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return parse_entry(body.decode("utf-8"), f"object {key}")

        # One request per object: several at once (the client is thread-safe).
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            return list(pool.map(read, sorted(versions)))


@functools.lru_cache(maxsize=8)  # one S3 client per location and process
def witness_for(value: str) -> FileWitness | S3Witness:
    value = (value or "").strip()
    if value.startswith("s3://"):
        return S3Witness(value)
    if value.startswith("file://"):
        value = urlsplit(value).path
    if not value:
        raise ImproperlyConfigured(
            "IMPRIMATUR_AUDIT_WITNESS is empty: give a file path or an s3:// location."
        )
    return FileWitness(value)


def configured_witness() -> FileWitness | S3Witness:
    return witness_for(settings.IMPRIMATUR_AUDIT_WITNESS)


def entries_from_file(path: str | Path) -> list[dict]:
    """An auditor's copy (the download: JSON lines) as entries."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise WitnessError(f"{path} cannot be read as text: {error}") from None
    return parse_lines(text.splitlines(), str(path))
