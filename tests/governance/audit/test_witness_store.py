"""The witness itself (witness.py): what each entry holds, an append-only file and an S3
bucket with Object Lock (SeaweedFS), the auditors' download and the verification of a copy
they kept (``audit_verify --checkpoints``)."""

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.audit.merkle import consistency_valid, event_leaf, tree_root
from governance.audit.models import AuditCheckpoint, AuditEvent
from governance.audit.proofs import audit_checkpoint
from governance.audit.services import audit_record
from governance.audit.verify import audit_verify
from governance.audit.witness import WitnessError, configured_witness
from tests.governance.audit.test_chain import Unguarded
from tests.governance.audit.test_witness import rewrite_from

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def audit_key(settings, tmp_path):
    settings.IMPRIMATUR_AUDIT_KEY = str(tmp_path / "keys" / "audit_key.pem")
    settings.IMPRIMATUR_AUDIT_WITNESS = str(tmp_path / "witness" / "checkpoints.jsonl")


def record(count: int, organization=None) -> None:
    for index in range(count):
        audit_record(action="tenancy.project.update", organization=organization, data={"n": index})


def checkpoints(*counts: int) -> list[AuditCheckpoint]:
    made = []
    for count in counts:
        record(count)
        made.append(audit_checkpoint())
    return made


def test_each_checkpoint_goes_to_the_witness_with_its_consistency_proof(settings):
    made = checkpoints(3, 5, 8)
    lines = Path(settings.IMPRIMATUR_AUDIT_WITNESS).read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["sequence"] for e in entries] == [3, 8, 16]
    hashes = list(AuditEvent.objects.values_list("hash", flat=True))
    for entry, checkpoint in zip(entries, made, strict=True):
        assert (entry["tree_root"], entry["signature"], entry["hash"]) == (
            checkpoint.tree_root, checkpoint.signature, checkpoint.hash,
        )  # fmt: skip
        assert entry["tree_root"] == tree_root(map(event_leaf, hashes[: entry["sequence"]])).hex()
    assert entries[0]["previous"] is None and entries[0]["hashes"] == hashes[:3]
    assert entries[1]["previous"] == {"sequence": 3, "tree_root": made[0].tree_root}
    assert entries[1]["hashes"] == hashes[3:8]
    for before, entry in itertools.pairwise(entries):
        proof = [bytes.fromhex(node) for node in entry["consistency"]]
        old, new = bytes.fromhex(before["tree_root"]), bytes.fromhex(entry["tree_root"])
        assert consistency_valid(before["sequence"], entry["sequence"], old, new, proof)
    result = audit_verify()
    assert result.intact and result.witnessed == 3, str(result)
    assert "3 of them in the witness file" in str(result)


def test_a_checkpoint_the_witness_does_not_take_is_not_made(settings, tmp_path):
    record(2)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the witness's folder should be")
    settings.IMPRIMATUR_AUDIT_WITNESS = str(blocked / "checkpoints.jsonl")
    with pytest.raises(WitnessError, match="Writing to the witness"):
        audit_checkpoint()
    assert not AuditCheckpoint.objects.exists()
    result = audit_verify()
    assert (result.intact, result.reason) == (False, "witness unavailable")
    assert str(result).startswith("not verified: witness unavailable")


def test_a_checkpoint_row_the_witness_never_took_is_reported(settings, tmp_path):
    checkpoints(3)
    settings.IMPRIMATUR_AUDIT_WITNESS = str(tmp_path / "elsewhere.jsonl")
    checkpoints(2)  # signed, but written to another witness
    settings.IMPRIMATUR_AUDIT_WITNESS = str(tmp_path / "witness" / "checkpoints.jsonl")
    result = audit_verify()
    assert (result.broken_sequence, result.reason) == (5, "checkpoint missing from witness")
    # Checkpoints from before the witness began (an earlier release) are not asked for.
    settings.IMPRIMATUR_AUDIT_WITNESS = str(tmp_path / "elsewhere.jsonl")
    assert audit_verify().intact


def test_an_edited_or_shortened_witness_is_reported(settings):
    checkpoints(3, 2, 2)
    path = settings.IMPRIMATUR_AUDIT_WITNESS
    lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
    edited = json.loads(lines[1]) | {"hash": "0" * 64}
    with open(path, "w", encoding="utf-8") as stream:
        stream.writelines([lines[0], json.dumps(edited) + "\n", lines[2]])
    result = audit_verify()
    assert (result.broken_sequence, result.reason) == (5, "bad signature")
    with open(path, "w", encoding="utf-8") as stream:
        stream.writelines([lines[0], lines[2]])  # the middle entry taken out
    result = audit_verify()
    assert (result.broken_sequence, result.reason) == (5, "checkpoint missing from witness")
    assert audit_verify(witness=False).intact


def test_auditors_download_the_witness_and_verify_against_their_copy(
    client, acme, globex, tmp_path
):
    record(4, acme.organization)
    head = audit_checkpoint().sequence
    client.force_login(acme.users["creator"])
    assert client.get("/audit/checkpoints.jsonl").status_code == 403
    client.force_login(acme.users["auditor"])
    response = client.get("/audit/checkpoints.jsonl")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    copy = tmp_path / "kept.jsonl"
    copy.write_bytes(response.content)
    assert [json.loads(line)["sequence"] for line in response.content.splitlines()] == [head]
    downloaded = AuditEvent.objects.filter(action="audit.checkpoints")
    assert [(e.organization_id, e.data) for e in downloaded] == [
        (acme.organization.pk, {"checkpoints": 1, "via": "web"})
    ]
    page = client.get("/audit/")
    assert b"/audit/checkpoints.jsonl" in page.content
    api = acme.client("auditor").get(
        "/api/v1/audit/checkpoints/", HTTP_ACCEPT="application/x-ndjson"
    )
    assert api.status_code == 200 and api.content == response.content
    refused = acme.client("creator").get("/api/v1/audit/checkpoints/")
    assert refused.status_code == 403 and refused.json()["status"] == 403

    # Later the database is rewritten, checkpoint rows included, and so is the live witness
    # (someone with access to both): the auditor's copy still finds it.
    rewrite_from(2, target_repr="forged")
    with Unguarded() as cursor:
        cursor.execute("DELETE FROM audit_auditcheckpoint")
    open(configured_witness().path, "w").close()
    call_command("audit_verify", "--jobs", "1")  # database and emptied witness agree
    with pytest.raises(CommandError, match="broken at 2: differs from witness"):
        call_command("audit_verify", "--jobs", "1", "--checkpoints", str(copy))
    with pytest.raises(CommandError, match="is not a file"):
        call_command("audit_verify", "--checkpoints", str(tmp_path / "none.jsonl"))


def test_the_checkpoints_command_prints_the_witness(settings, capsys):
    checkpoints(2, 1)
    call_command("audit_checkpoints", "--witness")
    printed = capsys.readouterr().out
    assert printed == Path(settings.IMPRIMATUR_AUDIT_WITNESS).read_text(encoding="utf-8")


def s3_witness(server, bucket: str, locked: bool, settings) -> str:
    server.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=locked)
    url = f"s3://{bucket}/checkpoints/?endpoint={server.endpoint}&region=us-east-1&retain_days=1"
    settings.IMPRIMATUR_AUDIT_WITNESS = url
    return url


def test_an_s3_witness_with_object_lock(s3_storage, settings):
    """SeaweedFS honours S3 Object Lock (checked here, version 4.x): each checkpoint object
    carries COMPLIANCE retention, deleting its version is refused, and an overwrite (a new
    version on top) is reported by verification."""
    import secrets

    from botocore.exceptions import ClientError

    client = s3_storage.client()
    bucket = "witness-" + secrets.token_hex(4)
    s3_witness(s3_storage, bucket, True, settings)
    checkpoints(3, 2)
    assert audit_verify().intact
    listed = client.list_object_versions(Bucket=bucket, Prefix="checkpoints/")["Versions"]
    keys = sorted(version["Key"] for version in listed)
    assert len(keys) == 2 and keys[0].startswith("checkpoints/00000000000000000003-")
    retention = client.get_object_retention(Bucket=bucket, Key=keys[0])["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    assert retention["RetainUntilDate"] > datetime.now(UTC) + timedelta(hours=23)
    version = next(v["VersionId"] for v in listed if v["Key"] == keys[0])
    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=keys[0], VersionId=version)
    client.put_object(Bucket=bucket, Key=keys[0], Body=b"{}")
    result = audit_verify()
    assert (result.intact, result.reason) == (False, "witness unavailable")
    assert "was overwritten" in result.detail


def test_an_s3_witness_without_object_lock(s3_storage, settings):
    import secrets

    from botocore.exceptions import ClientError

    bucket = "witness-" + secrets.token_hex(4)
    s3_witness(s3_storage, bucket, False, settings)
    checkpoints(2)
    assert audit_verify().intact
    client = s3_storage.client()
    key = client.list_objects_v2(Bucket=bucket)["Contents"][0]["Key"]
    with pytest.raises(ClientError):  # written without retention: none to read
        client.get_object_retention(Bucket=bucket, Key=key)
    with Unguarded() as cursor:
        cursor.execute("DELETE FROM audit_auditcheckpoint")
    result = audit_verify()
    assert (result.broken_sequence, result.reason) == (2, "checkpoint missing from database")
