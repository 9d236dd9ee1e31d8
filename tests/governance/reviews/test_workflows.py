"""Editing a project's review workflow (page and API): a new version each time, every
problem placed on its row, read-only for reviewers; and the "a different person at each
stage" setting."""

import pytest

from governance.reviews.forms import CONDITION_CHOICES
from governance.reviews.models import Workflow
from governance.reviews.services import workflow_current
from governance.reviews.stages import CONDITIONS

pytestmark = pytest.mark.django_db


def page_url(tenant) -> str:
    return f"/reviews/projects/{tenant.project.slug}/workflow/"


def post_data(rows, distinct=False) -> dict:
    data = {"stages-TOTAL_FORMS": str(len(rows)), "stages-INITIAL_FORMS": "0"}
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"stages-{index}-{key}"] = value
    if distinct:
        data["distinct_approvers"] = "on"
    return data


def test_every_condition_has_words():
    assert [value for value, _label in CONDITION_CHOICES] == list(CONDITIONS)


def test_admin_saves_a_new_version(client, acme):
    workflow_current(project=acme.project)  # the default, version 1
    client.force_login(acme.users["admin"])
    page = client.get(page_url(acme)).content.decode()
    assert 'value="Prompt review"' in page and "Version 1" in page
    rows = [
        {"name": "Legal", "role": "compliance", "approvals": "2", "kinds": ["prompt", "asset"],
         "when": "always", "due_hours": "12"},
        {"name": "", "role": "", "approvals": "1", "when": "always"},  # left empty: skipped
        {"name": "Brand", "role": "reviewer", "approvals": "1", "kinds": ["asset"],
         "when": "brand_below"},
    ]  # fmt: skip
    response = client.post(page_url(acme), post_data(rows, distinct=True))
    assert response.status_code == 302
    latest = workflow_current(project=acme.project)
    assert latest.version == 2 and latest.distinct_approvers
    assert [stage["name"] for stage in latest.stages] == ["Legal", "Brand"]
    assert latest.stages[0]["approvals"] == 2 and latest.stages[0]["due_hours"] == 12


def test_a_problem_lands_on_its_row(client, acme):
    client.force_login(acme.users["admin"])
    rows = [
        {"name": "", "role": "", "approvals": "1", "when": "always"},
        {"name": "No kinds", "role": "reviewer", "approvals": "1", "when": "always"},
    ]
    response = client.post(page_url(acme), post_data(rows))
    assert response.status_code == 400
    formset = response.context["formset"]
    assert "Give a list of kinds" in formset.forms[1].errors["kinds"][0]
    assert 'value="No kinds"' in response.content.decode()
    assert Workflow.objects.filter(project=acme.project, version__gt=1).count() == 0


def test_reviewers_read_creators_and_strangers_do_not(client, acme, globex):
    client.force_login(acme.users["reviewer"])
    page = client.get(page_url(acme))
    assert page.status_code == 200 and "Only admins change the workflow." in page.content.decode()
    assert client.post(page_url(acme), post_data([])).status_code == 403
    client.force_login(acme.users["creator"])
    assert client.get(page_url(acme)).status_code == 404
    client.force_login(globex.users["admin"])
    assert client.get(page_url(acme)).status_code == 404


def test_the_api_reads_and_replaces_the_workflow(acme):
    url = f"/api/v1/projects/{acme.project.slug}/workflow/"
    current = acme.client("compliance").get(url).json()
    assert current["version"] == 1 and current["stages"][0]["name"] == "Prompt review"
    body = {"stages": [{"name": "Only", "role": "admin", "kinds": ["asset"]}]}
    assert acme.client("compliance").put(url, body, format="json").status_code == 403
    saved = acme.client("admin").put(url, body, format="json")
    assert saved.status_code == 200 and saved.json()["version"] == 2
    bad = acme.client("admin").put(url, {"stages": [{"name": "x", "role": "boss"}]}, format="json")
    assert bad.status_code == 400 and "stages[0].role" in bad.json()["errors"]
