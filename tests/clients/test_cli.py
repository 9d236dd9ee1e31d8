"""The `imprimatur` command against a live server (no worker): logging in, exit codes,
downloads, share links, review tasks, the audit log's export and verification.

The whole path with a real worker (submit --wait, approve, download, verify) is in
test_cli_end_to_end.py."""

import json
import stat

import httpx
import pytest

from generation.jobs.sharing import sharing_configure
from tests.clients.conftest import token_of
from tests.generation.jobs.factories import approved_asset
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def as_json(result):
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def test_login_saves_a_private_token_that_later_commands_use(acme, cli, tmp_path):
    refused = cli("login", "--username", "acme-creator", "--password-stdin", input="wrong\n")
    assert refused.returncode == 3, refused.stderr
    assert "Unable to log in" in refused.stderr
    done = cli("login", "-u", "acme-creator", "--password-stdin", "--json", input=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    config = tmp_path / "config.toml"
    assert as_json(done)["config"] == str(config)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert token_of(acme.users["creator"]) in config.read_text()
    # The saved token is used: an unknown request is "not found" (4), not "no token" (3).
    assert cli("status", "999999").returncode == 4
    config.chmod(0o644)
    loose = cli("status", "999999")
    assert loose.returncode == 2 and "chmod 600" in loose.stderr


def test_exit_codes_for_missing_or_bad_tokens_and_usage(acme, cli):
    missing = cli("reviews", "list")
    assert missing.returncode == 3 and "imprimatur login" in missing.stderr
    bad = cli("reviews", "list", "--json", token="not-a-token")
    assert bad.returncode == 3 and as_json(bad)["status"] == 401
    assert cli("submit", "--prompt", "x", token="t").returncode == 2  # no --project
    assert cli("frobnicate").returncode == 2


def test_help_texts_name_every_command_and_the_exit_codes(cli):
    top = cli("--help")
    assert top.returncode == 0
    for command in ("login", "submit", "wait", "download", "verify", "reviews", "audit", "share"):
        assert command in top.stdout
    for args in (["submit"], ["download"], ["reviews", "approve"], ["audit", "verify"]):
        text = cli(*args, "--help").stdout
        assert "exit status" in text and "IMPRIMATUR_TOKEN" in text and "--json" in text, args


def test_submit_and_a_wait_that_times_out(acme, cli):
    token = token_of(acme.users["creator"])
    submitted = cli("submit", "-p", acme.project.slug, "--prompt", "a red star", "--steps", "2",
                    "--json", token=token)  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    request = as_json(submitted)
    assert request["status"] == "queued" and request["project"] == acme.project.slug
    # No worker runs here: the wait gives up (5) with the request as it was.
    waited = cli("wait", request["id"], "--timeout", "0.5", "--interval", "0.2", token=token)
    assert waited.returncode == 5 and "still queued" in waited.stderr
    refused = cli("submit", "-p", acme.project.slug, "--prompt", "x", "--steps", "100000",
                  token=token)  # fmt: skip
    assert refused.returncode == 2 and "steps" in refused.stderr
    elsewhere = cli("submit", "-p", "globex-campaign", "--prompt", "x", token=token)
    assert elsewhere.returncode == 4


def test_download_share_and_unshare(acme, globex, cli, tmp_path):
    asset = approved_asset(acme)
    creator = token_of(acme.users["creator"])
    done = cli("download", asset.pk, "-o", tmp_path, "--json", token=creator)
    assert done.returncode == 0, done.stderr
    (item,) = as_json(done)
    assert item["version"] == "published"
    assert (tmp_path / f"imprimatur-asset{asset.pk}.png").read_bytes() == (
        asset.published_image.open("rb").read()
    )
    assert cli("download", asset.pk, token=token_of(globex.users["admin"])).returncode == 4

    compliance = token_of(acme.users["compliance"])
    off = cli("share", asset.pk, "--hours", "2", token=compliance)
    assert off.returncode == 3 and "off for this organisation" in off.stderr
    sharing_configure(organization=acme.organization, user=acme.users["admin"], share_links=True)
    shared = cli("share", asset.pk, "--hours", "2", "--json", token=compliance)
    assert shared.returncode == 0, shared.stderr
    link = as_json(shared)
    assert httpx.get(link["url"]).status_code == 200  # no token: the link is enough
    assert cli("unshare", link["id"], token=compliance).returncode == 0
    assert httpx.get(link["url"]).status_code == 410
    assert cli("unshare", link["id"], token=compliance).returncode == 1  # already revoked


def test_verify_an_image_that_is_not_signed(acme, cli, tmp_path):
    asset = approved_asset(acme)  # its files are plain PNGs, not signed
    path = tmp_path / "plain.png"
    path.write_bytes(asset.image.open("rb").read())
    result = cli("verify", path, "--json", token=token_of(acme.users["creator"]))
    assert result.returncode == 1, result.stderr
    assert as_json(result)["report"]["status"] == "absent"
    assert cli("verify", tmp_path / "missing.png", token="t").returncode == 2


def test_reviews_without_tasks(acme, cli):
    reviewer = token_of(acme.users["reviewer"])
    listed = cli("reviews", "list", "--json", token=reviewer)
    assert listed.returncode == 0 and as_json(listed) == []
    assert cli("reviews", "approve", "999999", token=reviewer).returncode == 4


def test_audit_export_and_verify(acme, cli, tmp_path):
    sharing_configure(organization=acme.organization, user=acme.users["admin"], share_links=True)
    auditor = token_of(acme.users["auditor"])
    exported = cli("audit", "export", "-o", "audit.jsonl", "--json", token=auditor)
    assert exported.returncode == 0, exported.stderr
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["generation.sharing.configure"]
    checked = cli("audit", "verify", "audit.jsonl", "--json", token=auditor)
    assert checked.returncode == 0 and as_json(checked)["checked"] == 1
    assert cli("audit", "verify", "--json", token=auditor).returncode == 0  # on the server

    event = json.loads(lines[0])
    event["data"]["share_links"] = False  # a forged line: its hash no longer matches
    (tmp_path / "forged.jsonl").write_text(json.dumps(event) + "\n")
    forged = cli("audit", "verify", "forged.jsonl", token=auditor)
    assert forged.returncode == 1 and "broken at" in forged.stdout
    assert cli("audit", "export", token=token_of(acme.users["creator"])).returncode == 3
