"""Exported JSON Lines verify with the standalone tool, and stop verifying when changed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.audit.proofs import audit_checkpoint
from governance.audit.services import audit_record

REPO = Path(__file__).resolve().parents[3]
TOOL = REPO / "tools" / "audit_verify.py"


@pytest.fixture(autouse=True)
def audit_key(settings, tmp_path):
    settings.IMPRIMATUR_AUDIT_KEY = str(tmp_path / "audit_key.pem")


def run_tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.django_db
def test_an_export_verifies_standalone_and_fails_after_one_changed_byte(tmp_path):
    for index in range(6):
        audit_record(action="tenancy.project.update", data={"index": index, "word": "grüße"})
    audit_checkpoint()
    events, checkpoints = tmp_path / "audit.jsonl", tmp_path / "checkpoints.json"
    call_command("audit_export", "--format", "jsonl", "--output", str(events))
    call_command("audit_checkpoints", "--output", str(checkpoints))

    result = run_tool(events, "--checkpoints", checkpoints)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact: events 1 to 6" in result.stdout
    assert "1 checkpoint signatures valid" in result.stdout

    lines = events.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"index":3', b'"index":8')  # one byte of the fourth line
    events.write_bytes(b"".join(lines))
    result = run_tool(events)
    assert result.returncode == 1
    assert result.stdout.startswith("broken at 4: changed")


@pytest.mark.django_db
def test_a_truncated_export_fails_against_the_checkpoints(tmp_path):
    for _ in range(4):
        audit_record(action="tenancy.project.update")
    audit_checkpoint()
    events, checkpoints = tmp_path / "audit.jsonl", tmp_path / "checkpoints.json"
    call_command("audit_export", "--output", str(events))
    call_command("audit_checkpoints", "--output", str(checkpoints))
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:3]))
    result = run_tool(events, "--checkpoints", checkpoints)
    assert result.returncode == 1
    assert result.stdout.startswith("broken at 4: truncated")


@pytest.mark.django_db
def test_a_time_slice_exports_a_contiguous_range(tmp_path):
    for _ in range(3):
        audit_record(action="tenancy.project.update")
    events = tmp_path / "audit.jsonl"
    call_command("audit_export", "--since", "2000-01-01", "--until", "2999-01-01", "-o", events)
    assert len(events.read_text().splitlines()) == 3
    call_command("audit_export", "--since", "2999-01-01", "-o", events)
    assert events.read_text() == ""
    assert "empty file" in run_tool(events).stdout


@pytest.mark.django_db
def test_an_inclusion_proof_verifies_standalone_and_fails_when_changed(tmp_path):
    """One event proved against the signed tree root, without the rest of the log."""
    import json

    for index in range(11):
        audit_record(action="tenancy.project.update", data={"index": index})
    proof_file = tmp_path / "proof.json"
    with pytest.raises(CommandError, match="No signed checkpoint covers event 7 yet"):
        call_command("audit_proof", "7", "-o", proof_file)
    call_command("audit_proof", "7", "--create", "-o", proof_file)
    result = run_tool("--proof", proof_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("event 7 is included in the log of 11 events signed at")
    assert "1 checkpoint signatures valid" in result.stdout
    proof = json.loads(proof_file.read_text())
    assert len(proof["audit_path"]) == 4  # 11 leaves: a tree four levels high

    def check(changed: dict) -> subprocess.CompletedProcess:
        proof_file.write_text(json.dumps(changed))
        return run_tool("--proof", proof_file)

    edited = json.loads(json.dumps(proof))
    edited["event"]["data"]["index"] = 5  # the event, changed
    assert check(edited).stdout.startswith("broken at 7: changed")
    edited = json.loads(json.dumps(proof))
    edited["audit_path"][1] = "00" * 32  # a node of the path
    assert check(edited).stdout.startswith("broken at 7: not included")
    edited = json.loads(json.dumps(proof))
    edited["checkpoint"]["tree_root"] = edited["audit_path"][0]  # a root it was not signed with
    assert check(edited).stdout.startswith("broken at 7: not included")
    edited = json.loads(json.dumps(proof))
    edited["checkpoint"]["created_at"] = "2000-01-01T00:00:00.000000Z"  # the signed message
    assert check(edited).stdout.startswith("broken at 11: bad signature")
    with pytest.raises(CommandError, match="There is no audit event 99"):
        call_command("audit_proof", "99")


@pytest.mark.django_db
def test_an_export_checks_the_signed_tree_roots(tmp_path):
    for _ in range(5):
        audit_record(action="tenancy.project.update")
    audit_checkpoint()
    for _ in range(3):
        audit_record(action="tenancy.project.update")
    audit_checkpoint()
    events, checkpoints = tmp_path / "audit.jsonl", tmp_path / "checkpoints.json"
    call_command("audit_export", "--output", str(events))
    call_command("audit_checkpoints", "--output", str(checkpoints))
    result = run_tool(events, "--checkpoints", checkpoints)
    assert result.returncode == 0, result.stdout
    assert "2 checkpoint signatures valid" in result.stdout and "tree roots match" in result.stdout


@pytest.mark.django_db
def test_an_export_checks_against_the_witness_download(tmp_path):
    """The checkpoints as auditors download them (JSON Lines from the witness): signatures
    with the published public key, consistency proofs between entries, and an export whose
    event is not the one the witness holds is reported at that event."""
    from governance.audit.signing import load_or_create_key

    for round_ in range(3):
        for index in range(3 + round_):
            audit_record(action="tenancy.project.update", data={"r": round_, "i": index})
        audit_checkpoint()
    events, kept, key = tmp_path / "audit.jsonl", tmp_path / "kept.jsonl", tmp_path / "key.pem"
    call_command("audit_export", "--output", str(events))
    call_command("audit_checkpoints", "--witness", "--output", str(kept))
    key.write_text(load_or_create_key().public_pem())
    result = run_tool(events, "--checkpoints", kept, "--public-key", key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 checkpoint signatures valid" in result.stdout
    assert "witness consistency proofs valid" in result.stdout
    assert "NOT checked" in run_tool(events, "--checkpoints", kept).stdout

    # An export rewritten from event 5 on with every hash recomputed verifies on its own,
    # not against the kept checkpoints.
    from governance.audit.chain import event_hash

    rows = [json.loads(line) for line in events.read_text().splitlines()]
    prev_hash = rows[3]["hash"]
    for row in rows[4:]:
        row["prev_hash"] = prev_hash
        if row["sequence"] == 5:
            row["target_repr"] = "forged"
        row.pop("hash")
        row["hash"] = prev_hash = event_hash(row)
    events.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert run_tool(events).returncode == 0
    result = run_tool(events, "--checkpoints", kept, "--public-key", key)
    assert result.returncode == 1
    assert result.stdout.startswith("broken at 5: differs from witness")

    # A kept file whose middle entry was taken out no longer proves one history.
    lines = kept.read_text().splitlines(keepends=True)
    kept.write_text(lines[0] + lines[2])
    result = run_tool(events, "--checkpoints", kept)
    assert result.stdout.startswith("broken at 12: witness inconsistent"), result.stdout
