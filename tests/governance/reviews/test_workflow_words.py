"""The workflow editor in words: rows whose checkboxes sit inside their labels, the read-only
view without condition codes, and what changed between two versions."""

import re

import pytest

from governance.reviews.services import workflow_current, workflow_update
from governance.reviews.stages import CONDITIONS, KINDS
from governance.reviews.wording import CONDITION_LABELS, KIND_LABELS, workflow_diff

pytestmark = pytest.mark.django_db


def page_url(tenant) -> str:
    return f"/reviews/projects/{tenant.project.slug}/workflow/"


def two_versions(tenant):
    first = workflow_current(project=tenant.project)  # the default, version 1
    stages = [dict(stage) for stage in first.stages if stage["name"] != "Likeness review"]
    brand = next(stage for stage in stages if stage["name"] == "Brand review")
    brand.update(role="compliance", approvals=2, when="check_flagged", due_hours=72)
    stages.append(
        {"name": "Legal", "role": "admin", "approvals": 1, "kinds": ["asset"], "when": "always"}
    )
    second = workflow_update(
        project=tenant.project, user=tenant.users["admin"], stages=stages, distinct_approvers=True
    )
    return first, second


def test_every_code_has_words():
    assert set(CONDITION_LABELS) == set(CONDITIONS)
    assert set(KIND_LABELS) == set(KINDS)


def test_the_diff_says_what_was_added_removed_and_changed(acme):
    first, second = two_versions(acme)
    diff = workflow_diff(first, second)
    assert [stage["name"] for stage in diff["added"]] == ["Legal"]
    assert diff["added"][0]["decided_by"] == "an admin"
    assert [stage["name"] for stage in diff["removed"]] == ["Likeness review"]
    [brand] = diff["changed"]
    assert brand["name"] == "Brand review" and not brand["moved"]
    assert {change["label"]: (change["before"], change["after"]) for change in brand["fields"]} == {
        "Decided by": ("Reviewer", "Compliance officer"),
        "Approvals": ("1", "2"),
        "When": ("Always", "An image check flagged it"),
        "Due within": ("2 days", "3 days"),
    }
    assert diff["settings"] == [
        {"label": "A different person at each stage", "before": "no", "after": "yes"}
    ]
    assert workflow_diff(second, second)["same"]
    swapped = [second.stages[1], second.stages[0], *second.stages[2:]]
    moved = workflow_diff(second, type(second)(stages=swapped, distinct_approvers=True))
    assert [(s["name"], s["moved"], s["fields"]) for s in moved["changed"]] == [
        (second.stages[1]["name"], True, []),
        (second.stages[0]["name"], True, []),
    ]


def test_the_page_compares_two_chosen_versions(client, acme):
    two_versions(acme)
    client.force_login(acme.users["reviewer"])
    page = client.get(page_url(acme) + "?from=1&to=2").content.decode()
    diff = page[page.index("data-workflow-diff") :]
    assert "Added" in diff and "Legal" in diff and "Removed" in diff
    assert "<del>Always</del> → <ins>An image check flagged it</ins>" in diff
    # Version 2 against itself: nothing changed.
    same = client.get(page_url(acme) + "?from=2&to=2").content.decode()
    assert "have the same stages" in same


def test_the_read_only_view_says_conditions_in_words(client, acme):
    workflow_current(project=acme.project)
    client.force_login(acme.users["compliance"])
    page = client.get(page_url(acme)).content.decode()
    stages = page[page.index("data-stages-read-only") : page.index("</ol>")]
    for code in ("check_flagged", "check_failed", "prompt_review", "face_detected", "asset"):
        assert code not in stages
    assert "when: an image check flagged it" in stages
    assert "decided by a compliance officer" in stages


def test_each_checkbox_is_inside_its_label(client, acme):
    workflow_current(project=acme.project)
    client.force_login(acme.users["admin"])
    page = client.get(page_url(acme)).content.decode()
    boxes = re.findall(r'<input type="checkbox"[^>]*>', page)
    assert len(boxes) >= 5
    for box in boxes:
        name = re.search(r'id="([^"]+)"', box)[1]
        label = re.search(
            rf'<label class="checkbox-inline[^"]*" for="{name}">\s*<input[^>]*>\s*(\w+)', page
        )
        assert label, f"checkbox {name} has no label right after it"
