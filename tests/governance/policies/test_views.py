"""The policy pages: list, draft editor, test console, publishing, versions, re-check."""

import json

import pytest

from governance.policies import services
from governance.policies.models import Policy
from tests.generation.jobs.factories import GenerationRequestFactory
from tests.governance.policies.factories import SAMPLE_DRAFT as DRAFT
from tests.governance.policies.factories import document, pattern_rule, term_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy(acme) -> Policy:
    return services.policy_create(
        organization=acme.organization, user=acme.users["admin"], name="Acme rules", draft=DRAFT
    )


def login(client, tenant, role):
    client.force_login(tenant.users[role])
    return client


def save(client, policy, draft, name="Acme rules"):
    text = draft if isinstance(draft, str) else json.dumps(draft)
    return client.post(f"/policies/{policy.pk}/", {"name": name, "draft": text})


def test_list_shows_own_organisation_policies_only(client, acme, globex, policy):
    services.policy_create(
        organization=globex.organization, user=globex.users["admin"], name="Globex rules"
    )
    page = login(client, acme, "creator").get("/policies/").content.decode()
    assert "Acme rules" in page and "Not published" in page and "Changed since publish" in page
    assert "Globex rules" not in page
    assert "New policy" not in page  # creators do not write policies
    assert 'href="/policies/"' in page  # in the navigation
    assert "New policy" in login(client, acme, "compliance").get("/policies/").content.decode()


def test_compliance_creates_a_project_policy(client, acme, policy):
    response = login(client, acme, "compliance").post(
        "/policies/new/", {"target": f"project:{acme.project.pk}", "name": "Campaign extras"}
    )
    created = Policy.objects.get(project=acme.project)
    assert response["Location"] == f"/policies/{created.pk}/"
    again = client.post("/policies/new/", {"target": f"organization:{acme.organization.pk}"})
    assert "This organisation already has a policy." in again.content.decode()


def test_saving_an_invalid_regex_shows_the_place_and_keeps_the_text(client, acme, policy):
    draft = document(pattern_rule("guns", "gun(?!s)"))
    text = json.dumps(draft, indent=1)
    response = save(login(client, acme, "compliance"), policy, text)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Rule 1 (guns), pattern" in page
    assert "lookahead is not supported" in page
    assert "gun(?!s)" in page  # the user's text is still in the editor
    policy.refresh_from_db()
    assert policy.draft["rules"][0]["id"] == "nudity"


def test_saving_text_that_is_not_json_says_where(client, acme, policy):
    response = save(login(client, acme, "admin"), policy, '{"rules": [}')
    assert response.status_code == 400
    assert "This is not valid JSON" in response.content.decode()
    assert "{&quot;rules&quot;: [}" in response.content.decode()


def test_saving_a_valid_draft_replaces_it(client, acme, policy):
    draft = {**DRAFT, "rules": [*DRAFT["rules"], term_rule("cats", "tiger")]}
    response = save(login(client, acme, "compliance"), policy, draft, name="Renamed")
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.name == "Renamed"
    assert [rule["id"] for rule in policy.draft["rules"]] == ["nudity", "gore", "cats"]


def test_try_console_highlights_matches_and_escapes_the_prompt(client, acme, policy):
    response = login(client, acme, "creator").post(
        f"/policies/{policy.pk}/try/",
        {"prompt": "<script>alert(1)</script> a nude statue, bloody", "negative_prompt": "blurry"},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a " in page
    assert '<mark class="match match-block" title="block: sexual">nude</mark>' in page
    assert '<mark class="match match-review" title="review: violence">bloody</mark>' in page
    assert "Blocked: this prompt would be refused." in page
    assert "Rule nudity." in page and "sexual" in page
    assert "blurry, watermark" in page
    assert "<html" not in page  # a fragment for htmx


def test_try_console_without_javascript_renders_the_page(client, acme, policy):
    response = login(client, acme, "reviewer").post(
        f"/policies/{policy.pk}/try/", {"prompt": "a calm lake"}
    )
    page = response.content.decode()
    assert "<html" in page and "Allowed: images would be generated" in page


def test_publish_refused_lists_the_failing_example(client, acme, policy):
    draft = {**DRAFT, "examples": [{"prompt": "a calm lake", "expected": "block"}]}
    save(login(client, acme, "compliance"), policy, draft)
    response = client.post(f"/policies/{policy.pk}/publish/")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Not published." in page
    assert "Example 1 “a calm lake”: should be blocked, but is allowed" in page
    assert not policy.versions.exists()


def test_publish_creates_version_1_and_shows_its_diff(client, acme, policy):
    response = login(client, acme, "compliance").post(
        f"/policies/{policy.pk}/publish/", follow=True
    )
    assert response.redirect_chain[-1][0] == f"/policies/{policy.pk}/versions/1/"
    assert policy.versions.get().number == 1
    page = response.content.decode()
    assert "Version 1 is published" in page
    assert "Added rule" in page and "nudity" in page and "Pattern: <code>blood(y)?</code>" in page
    assert "“a nude statue” → block" in page

    draft = {**DRAFT, "rules": [{**DRAFT["rules"][0], "terms": ["nude", "naked"]}]}
    save(client, policy, draft)
    client.post(f"/policies/{policy.pk}/publish/")
    page = client.get(f"/policies/{policy.pk}/versions/2/").content.decode()
    assert "Removed rule" in page and "gore" in page
    assert "Terms added: naked" in page
    history = client.get(f"/policies/{policy.pk}/versions/").content.decode()
    assert "Version 2" in history and "acme-compliance" in history and "rules: 1 removed" in history


def test_recheck_lists_requests_the_draft_would_block(client, acme, policy):
    login(client, acme, "compliance").post(f"/policies/{policy.pk}/publish/")
    tiger = GenerationRequestFactory(project=acme.project, prompt="a tiger at dawn")
    save(client, policy, {**DRAFT, "rules": [*DRAFT["rules"], term_rule("cats", "tiger")]})
    assert 'value="30"' in client.get(f"/policies/{policy.pk}/recheck/").content.decode()
    page = client.post(f"/policies/{policy.pk}/recheck/", {"days": 7}).content.decode()
    assert "1 request of the last 7 days checked" in page
    assert "Newly blocked (1)" in page and "Newly allowed (0)" in page
    assert f'href="/requests/{tiger.pk}/"' in page and "a tiger at dawn" in page
    assert "acme Campaign" in page
    bad = client.post(f"/policies/{policy.pk}/recheck/", {"days": 0}).content.decode()
    assert "greater than or equal to 1" in bad


def test_members_who_do_not_govern_get_a_read_only_page_and_403_on_writes(client, acme, policy):
    login(client, acme, "creator")
    page = client.get(f"/policies/{policy.pk}/").content.decode()
    assert "Only admins and compliance officers edit policies." in page
    assert "Save draft" not in page and "Publish the draft" not in page
    assert save(client, policy, document(), name="mine").status_code == 403
    assert client.post(f"/policies/{policy.pk}/publish/").status_code == 403
    assert client.get(f"/policies/{policy.pk}/recheck/").status_code == 403
    assert client.get("/policies/new/").status_code == 403
    policy.refresh_from_db()
    assert policy.name == "Acme rules" and not policy.versions.exists()


def test_other_organisations_get_404(client, acme, globex, policy):
    services.policy_publish(policy=policy, user=acme.users["admin"])
    login(client, globex, "admin")
    base = f"/policies/{policy.pk}/"
    for url in ("", "versions/", "versions/1/", "recheck/"):
        assert client.get(base + url).status_code == 404, url
    for url in ("", "try/", "publish/", "recheck/"):
        assert client.post(base + url, {"prompt": "x", "draft": "{}"}).status_code == 404, url
    assert "Acme rules" not in client.get("/policies/").content.decode()
