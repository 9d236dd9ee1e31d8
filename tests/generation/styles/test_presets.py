"""Style presets: versioned and audited; a request made with one gets its template and
defaults, and the policy judges the prompt after the template is applied."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from generation.jobs.models import GenerationRequest
from generation.jobs.services import generation_request_submit
from generation.styles.presets import preset_save
from governance.audit.models import AuditEvent
from governance.policies.services import policy_create, policy_publish
from imprimatur.errors import PolicyRefused
from tests.governance.policies.factories import document, term_rule

pytestmark = pytest.mark.django_db


def preset(tenant, name="poster", **data):
    return preset_save(
        project=tenant.project,
        user=tenant.users["admin"],
        name=name,
        data={"prompt_template": "{prompt}, flat vector poster", "steps": 3, **data},
    )


def test_a_template_needs_the_prompt_placeholder(acme):
    with pytest.raises(ValidationError) as caught:
        preset(acme, prompt_template="a flat vector poster")
    assert "{prompt}" in caught.value.message_dict["prompt_template"][0]


def test_only_admins_manage_presets(acme):
    with pytest.raises(PermissionDenied):
        preset_save(
            project=acme.project,
            user=acme.users["creator"],
            name="poster",
            data={"prompt_template": "{prompt}"},
        )


def test_a_preset_applies_its_template_and_defaults_and_requests_keep_their_version(acme):
    first = preset(acme, negative_prompt="blurry", size=96)
    request = generation_request_submit(
        project=acme.project,
        user=acme.users["creator"],
        prompt="a red star",
        params={"preset": "poster", "negative_prompt": "text"},
    )
    assert request.prompt == "a red star, flat vector poster"
    assert request.negative_prompt_submitted == "blurry, text"
    assert (request.steps, request.width, request.height) == (3, 96, 96)
    assert request.preset_version == first
    # The request's own values win over the preset's.
    own = generation_request_submit(
        project=acme.project,
        user=acme.users["creator"],
        prompt="a red star",
        params={"preset": "poster", "steps": 5},
    )
    assert own.steps == 5
    second = preset_save(
        project=acme.project,
        user=acme.users["admin"],
        name="poster",
        data={"prompt_template": "{prompt} in ink"},
        preset=first.preset,
    )
    assert second.number == 2
    request.refresh_from_db()
    assert request.preset_version == first
    actions = list(
        AuditEvent.objects.filter(action__startswith="styles.preset.").values_list(
            "action", flat=True
        )
    )
    assert actions == ["styles.preset.create", "styles.preset.update"]
    submitted = AuditEvent.objects.filter(
        action="generation.request.submit", target_id=str(request.pk)
    ).get()
    assert submitted.data["preset"] == {"name": "poster", "version": 1}


def test_preset_defaults_stay_within_the_model_limits(acme):
    preset(acme, steps=500)
    with pytest.raises(ValidationError) as caught:
        generation_request_submit(
            project=acme.project,
            user=acme.users["creator"],
            prompt="a red star",
            params={"preset": "poster"},
        )
    assert "steps" in caught.value.message_dict


def test_the_policy_judges_the_prompt_after_the_template(acme):
    policy = policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft=document(term_rule("rivals", "globocorp", category="competitor_brands")),
    )
    policy_publish(policy=policy, user=acme.users["admin"])
    preset(acme, name="rival", prompt_template="{prompt} in the globocorp style")
    with pytest.raises(PolicyRefused):
        generation_request_submit(
            project=acme.project,
            user=acme.users["creator"],
            prompt="a red star",
            params={"preset": "rival"},
        )
    assert not GenerationRequest.objects.exists()
    assert AuditEvent.objects.filter(action="generation.request.blocked").count() == 1


def test_an_unknown_preset_is_refused_by_name(acme, globex):
    preset(globex, name="theirs")
    response = acme.client("creator").post(
        f"/api/v1/projects/{acme.project.slug}/requests/",
        {"prompt": "a red star", "preset": "theirs"},
        format="json",
    )
    assert response.status_code == 400
    assert "No preset named 'theirs'" in str(response.json())


def test_presets_through_the_api(acme):
    url = f"/api/v1/projects/{acme.project.slug}/presets/"
    body = {"name": "poster", "prompt_template": "{prompt}, poster", "steps": 4}
    assert acme.client("creator").post(url, body, format="json").status_code == 403
    created = acme.client("admin").post(url, body, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    changed = acme.client("admin").patch(f"/api/v1/presets/{pk}/", {"steps": 6}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["current"]["number"] == 2
    assert changed.json()["current"]["steps"] == 6
    assert changed.json()["current"]["prompt_template"] == "{prompt}, poster"
    listed = acme.client("creator").get(url).json()
    assert [item["name"] for item in listed] == ["poster"]


def test_the_request_form_takes_a_preset_and_styles(acme):
    from django.test import Client

    from tests.generation.styles.helpers import approved_style

    approved_style(acme)
    preset(acme, size=96)
    browser = Client()
    browser.force_login(acme.users["creator"])
    page = browser.get(f"/projects/{acme.project.slug}/")
    assert b'name="preset"' in page.content and b"poster" in page.content
    # The form's unchanged defaults (64 px, 20 steps) give way to the preset's.
    form = {
        "prompt": "a red star",
        "model": acme.model.name,
        "mode": "text-to-image",
        "width": 64,
        "height": 64,
        "num_images": 1,
        "steps": 20,
        "guidance_scale": 7.5,
        "preset": "poster",
        "styles": "outline:0.5",
    }
    response = browser.post(f"/projects/{acme.project.slug}/", form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    request = GenerationRequest.objects.get()
    assert (request.prompt, request.steps, request.width) == (
        "a red star, flat vector poster",
        3,
        96,
    )
    assert [(entry["name"], entry["weight"]) for entry in request.styles] == [("outline", 0.5)]
    refused = browser.post(f"/projects/{acme.project.slug}/", {**form, "styles": "other"})
    assert refused.status_code == 400
    assert "This project has no style named" in refused.content.decode()


def test_live_feedback_judges_the_templated_prompt(acme):
    from django.test import Client

    policy = policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft=document(term_rule("rivals", "globocorp", category="competitor_brands")),
    )
    policy_publish(policy=policy, user=acme.users["admin"])
    preset(acme, name="rival", prompt_template="{prompt} in the globocorp style")
    browser = Client()
    browser.force_login(acme.users["creator"])
    url = f"/projects/{acme.project.slug}/policy-check/"
    plain = browser.post(url, {"prompt": "a red star"}).content.decode()
    templated = browser.post(url, {"prompt": "a red star", "preset": "rival"}).content.decode()
    assert "globocorp" not in plain
    assert "globocorp" in templated and "Blocked" in templated
