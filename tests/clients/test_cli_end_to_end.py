"""The `imprimatur` command against a running platform: a live web server and a real Celery
worker. A creator logs in, submits and waits with a progress bar; a reviewer (and a
compliance officer, when the checks ask for one) approves; the worker publishes the
approved copy; the creator downloads it by token through ``published_url`` and verifies
it; an auditor exports the audit log and verifies it here and on the server."""

import json

import pytest

from generation.jobs.models import Asset
from tests.conftest import wait_for
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def ok(result) -> dict | list:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_the_cli_end_to_end(acme, celery_worker, cli, tmp_path):
    def login(role: str) -> str:
        config = f"{role}.toml"
        ok(cli("login", "-u", f"acme-{role}", "--password-stdin", "--json",
               input=PASSWORD + "\n", config=config))  # fmt: skip
        return config

    creator, reviewer, compliance, auditor = map(
        login, ("creator", "reviewer", "compliance", "auditor")
    )

    submitted = cli("submit", "--project", acme.project.slug, "--prompt", "a red star on navy",
                    "--width", "64", "--height", "64", "--steps", "3", "--seed", "7",
                    "--wait", "--progress", "--interval", "0.3", "--json", config=creator,
                    timeout=300)  # fmt: skip
    request = ok(submitted)
    assert request["status"] == "succeeded", celery_worker.output()
    assert "request" in submitted.stderr and "step" in submitted.stderr  # the progress bar
    (asset,) = request["assets"]
    assert asset["published_url"] is None

    # Review: the brand review by a reviewer, and the compliance stage if the checks ask.
    for config in (reviewer, compliance):
        tasks = [t for t in ok(cli("reviews", "list", "--json", config=config))
                 if t["kind"] == "asset"]  # fmt: skip
        for task in tasks:
            decided = ok(cli("reviews", "approve", task["id"], "-m", "on brand", "--json",
                             config=config))  # fmt: skip
            assert decided["status"] == "approved"
    wait_for(
        lambda: (
            Asset.objects.filter(pk=asset["id"], status="approved")
            .exclude(published_image="")
            .exists()
        ),
        timeout=120,
        what="the approved image to be published",
    )

    downloaded = ok(cli("download", asset["id"], "-o", "approved.png", "--json", config=creator))
    assert downloaded[0]["version"] == "published"
    verified = ok(cli("verify", "approved.png", "--json", config=creator))
    assert verified["report"]["status"] == "trusted"
    assert verified["asset"]["asset"] == asset["id"]

    ok(cli("audit", "export", "-o", "audit.jsonl", "--json", config=auditor))
    actions = [json.loads(line)["action"] for line in (tmp_path / "audit.jsonl").open()]
    assert "generation.request.submit" in actions and "generation.asset.publish" in actions
    assert ok(cli("audit", "verify", "audit.jsonl", "--json", config=auditor))["intact"]
    assert ok(cli("audit", "verify", "--json", config=auditor))["intact"]
