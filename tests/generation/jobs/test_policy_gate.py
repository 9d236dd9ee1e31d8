"""Prompt policies judge every request before it is queued: blocked prompts are refused
with the reason (API and form), allowed ones get the policy's negative-prompt additions,
and creators see the judgement live while typing."""

import unicodedata

import pytest

from generation.jobs.models import GenerationJob, GenerationRequest
from governance.audit.models import AuditEvent
from governance.policies.services import policy_create, policy_publish
from tests.governance.policies.factories import document, term_rule

pytestmark = pytest.mark.django_db

CYRILLIC_E = unicodedata.lookup("CYRILLIC SMALL LETTER IE")


@pytest.fixture
def published(acme):
    """An organisation policy: nudity blocked, a rival brand warned about, two additions."""
    policy = policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft=document(
            {
                **term_rule("nudity", "nude", category="sexual"),
                "explanation": "No nudity in brand images.",
            },
            term_rule("rivals", "globocorp", action="warn", category="competitor_brands"),
            term_rule("gore", "gore", action="review", category="violence"),
            negative_additions=["watermark", "text"],
        ),
    )
    return policy_publish(policy=policy, user=acme.users["admin"])


def submit(tenant, body):
    return tenant.client("creator").post(
        f"/api/v1/projects/{tenant.project.slug}/requests/", body, format="json"
    )


def blocked_events():
    return AuditEvent.objects.filter(action="generation.request.blocked")


@pytest.mark.parametrize(
    ("prompt", "quoted"),
    [
        ("a nude figure on a beach", "nude"),
        ("a n.u.d.e figure on a beach", "n.u.d.e"),
        (f"a nud{CYRILLIC_E} figure on a beach", f"nud{CYRILLIC_E}"),
    ],
)
def test_blocked_prompt_is_refused_through_the_api_with_the_reason(acme, published, prompt, quoted):
    response = submit(acme, {"prompt": prompt})
    assert response.status_code == 400, response.json()
    payload = response.json()
    assert payload["code"] == "invalid"
    message = " ".join(payload["errors"]["prompt"])
    assert "blocks this prompt" in message
    assert f"\u201c{quoted}\u201d" in message
    assert "sexual" in message and "No nudity in brand images." in message
    assert payload["data"]["outcome"] == "block"
    assert payload["data"]["policy_versions"] == [published.pk]
    [match] = payload["data"]["matches"]
    assert (match["category"], match["action"], match["term"]) == ("sexual", "block", "nude")
    assert prompt[match["start"] : match["end"]] == quoted
    assert not GenerationRequest.objects.exists()
    assert not GenerationJob.objects.exists()
    [event] = blocked_events()
    assert event.actor_name == "acme-creator" and event.organization == acme.organization
    assert event.data["outcome"] == "block" and event.data["rules"] == ["nudity"]
    assert "prompt" not in event.data


def test_blocked_prompt_enqueues_nothing(acme, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert submit(acme, {"prompt": "nude"}).status_code == 400
    assert callbacks == []


def test_blocked_prompt_is_refused_in_the_form_and_audited(client, acme, published):
    client.force_login(acme.users["creator"])
    response = client.post(
        f"/projects/{acme.project.slug}/",
        {
            "prompt": "a n.u.d.e figure",
            "model": acme.model.name,
            "mode": "text-to-image",
            "width": 64,
            "height": 64,
            "num_images": 1,
            "steps": 2,
            "guidance_scale": 7.5,
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "The prompt policy blocks this prompt." in page
    assert "\u201cn.u.d.e\u201d" in page
    assert "No nudity in brand images." in page
    assert not GenerationRequest.objects.exists()
    assert blocked_events().count() == 1


def test_allowed_prompt_gets_the_additions_and_records_the_judgement(acme, published):
    response = submit(acme, {"prompt": "a globocorp mug", "negative_prompt": "blurry, text"})
    assert response.status_code == 201, response.json()
    request = GenerationRequest.objects.get(pk=response.json()["id"])
    assert request.negative_prompt == "blurry, text, watermark"
    assert request.negative_prompt_submitted == "blurry, text"
    assert request.policy_outcome == "allow"
    assert request.policy_versions == [published.pk]
    [warning] = request.policy_matches
    assert (warning["action"], warning["term"], warning["start"], warning["end"]) == (
        "warn",
        "globocorp",
        2,
        11,
    )
    assert GenerationJob.objects.filter(request=request).count() == 1
    assert not blocked_events().exists()
    submit_event = AuditEvent.objects.get(action="generation.request.submit")
    assert submit_event.data["policy_versions"] == [published.pk]


def test_request_page_shows_the_outcome_and_warnings(client, acme, published):
    created = submit(acme, {"prompt": "a <b>globocorp</b> mug"}).json()
    client.force_login(acme.users["creator"])
    page = client.get(f"/requests/{created['id']}/").content.decode()
    assert 'data-policy-outcome="allow"' in page
    assert "Warning · trademarks and brands of others" in page
    assert "&lt;b&gt;<mark" in page and ">globocorp</mark>&lt;/b&gt;" in page
    assert "watermark" in page


def test_rerun_of_a_prompt_blocked_since_is_refused_with_the_reason(client, acme):
    created = submit(acme, {"prompt": "a nude statue"})
    assert created.status_code == 201  # no policy yet
    policy = policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft=document(term_rule("nudity", "nude", category="sexual")),
    )
    policy_publish(policy=policy, user=acme.users["admin"])
    response = acme.client("creator").post(f"/api/v1/requests/{created.json()['id']}/rerun/")
    assert response.status_code == 400
    assert response.json()["data"]["outcome"] == "block"
    client.force_login(acme.users["creator"])
    page = client.post(f"/requests/{created.json()['id']}/rerun/", follow=True).content.decode()
    assert "The prompt policy blocks this prompt." in page
    assert GenerationRequest.objects.count() == 1
    assert blocked_events().count() == 2


def test_without_any_policy_requests_work_as_before(acme):
    response = submit(acme, {"prompt": "a nude statue", "negative_prompt": "blurry"})
    assert response.status_code == 201
    request = GenerationRequest.objects.get()
    assert (request.negative_prompt, request.negative_prompt_submitted) == ("blurry", "blurry")
    assert (request.policy_outcome, request.policy_versions, request.policy_matches) == (
        "allow",
        [],
        [],
    )


# --- Live feedback while typing ----------------------------------------------------------------


def check(client, tenant, prompt, role="creator"):
    client.force_login(tenant.users[role])
    return client.post(f"/projects/{tenant.project.slug}/policy-check/", {"prompt": prompt})


def test_feedback_highlights_the_matched_span_and_escapes_the_prompt(client, acme, published):
    response = check(client, acme, '<script>x</script> a n.u.d.e & "globocorp"')
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt; a " in page
    assert '<mark class="match match-block" title="block: sexual">n.u.d.e</mark>' in page
    warned = '<mark class="match match-warn" title="warn: competitor brands">globocorp</mark>'
    assert "&quot;" + warned in page
    assert 'data-outcome="block"' in page
    assert "Blocked" in page and "No nudity in brand images." in page


def test_feedback_for_an_allowed_prompt_lists_the_additions(client, acme, published):
    page = check(client, acme, "a red star").content.decode()
    assert 'data-outcome="allow"' in page and "<mark" not in page
    assert "watermark, text" in page


def test_feedback_is_for_creators_of_the_project_only(client, acme, globex, published):
    assert check(client, acme, "nude", role="reviewer").status_code == 403
    assert check(client, globex, "nude").status_code == 200  # their own project
    client.force_login(globex.users["creator"])
    other = client.post(f"/projects/{acme.project.slug}/policy-check/", {"prompt": "nude"})
    assert other.status_code == 404
    assert client.get(f"/projects/{globex.project.slug}/policy-check/").status_code == 405


def test_feedback_requires_the_csrf_token(acme, published):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = check(client, acme, "nude")
    assert response.status_code == 403


def test_project_page_wires_the_prompt_to_the_feedback(client, acme):
    client.force_login(acme.users["creator"])
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert f'hx-post="/projects/{acme.project.slug}/policy-check/"' in page
    assert 'hx-trigger="input changed delay:400ms"' in page
    assert '<div id="policy-feedback" aria-live="polite">' in page
