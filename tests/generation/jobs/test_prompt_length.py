"""One prompt-length limit: the request form, the request API, the live feedback and the
policy's evaluation (service and API) take a prompt of MAX_PROMPT_CHARS characters and refuse
one character more, in the same words wherever the platform words it."""

import pytest
from django.core.exceptions import ValidationError

from generation.jobs.models import GenerationRequest
from governance.policies.matching import MAX_PROMPT_CHARS
from governance.policies.services import policy_create, policy_evaluate, policy_publish
from tests.governance.policies.factories import document

pytestmark = pytest.mark.django_db

LONGEST = "a" * MAX_PROMPT_CHARS
TOO_LONG = LONGEST + "a"
REFUSED = f"The prompt is {MAX_PROMPT_CHARS + 1} characters long; the limit is {MAX_PROMPT_CHARS}."


@pytest.fixture
def policy(acme):
    policy = policy_create(
        organization=acme.organization, project=None, user=acme.users["admin"], draft=document()
    )
    policy_publish(policy=policy, user=acme.users["admin"])
    return policy


def page_submit(client, tenant, **fields):
    client.force_login(tenant.users["creator"])
    return client.post(
        f"/projects/{tenant.project.slug}/",
        {
            "model": tenant.model.name,
            "mode": "text-to-image",
            "width": 64,
            "height": 64,
            "num_images": 1,
            "steps": 2,
            "guidance_scale": 7.5,
            **fields,
        },
    )


def api_submit(tenant, **fields):
    return tenant.client("creator").post(
        f"/api/v1/projects/{tenant.project.slug}/requests/", fields, format="json"
    )


def test_the_limit_is_the_same_for_the_form_the_api_and_the_policy(client, acme, policy):
    # The form (the project page).
    refused = page_submit(client, acme, prompt=TOO_LONG)
    assert refused.status_code == 400
    assert refused.context["form"].errors["prompt"] == [REFUSED]
    assert page_submit(client, acme, prompt=LONGEST).status_code == 302

    # The request API.
    refused = api_submit(acme, prompt=TOO_LONG)
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"prompt": [REFUSED]}
    assert api_submit(acme, prompt=LONGEST).status_code == 201

    # The policy's evaluation, the service that both submissions go through.
    with pytest.raises(ValidationError) as caught:
        policy_evaluate(project=acme.project, prompt=TOO_LONG)
    assert caught.value.message_dict == {"prompt": [REFUSED]}
    assert policy_evaluate(project=acme.project, prompt=LONGEST).outcome == "allow"

    # The policy API's test console: the same number (its words are DRF's, in the schema).
    url = f"/api/v1/policies/{policy.pk}/evaluate/"
    refused = acme.client("compliance").post(url, {"prompt": TOO_LONG}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {
        "prompt": [f"Ensure this field has no more than {MAX_PROMPT_CHARS} characters."]
    }
    allowed = acme.client("compliance").post(url, {"prompt": LONGEST}, format="json")
    assert allowed.status_code == 200 and allowed.json()["outcome"] == "allow"

    assert list(GenerationRequest.objects.values_list("prompt", flat=True)) == [LONGEST] * 2


def test_the_negative_prompt_has_the_same_limit(client, acme):
    words = f"The negative prompt is {MAX_PROMPT_CHARS + 1} characters long; the limit is "
    refused = api_submit(acme, prompt="a red star", negative_prompt=TOO_LONG)
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"negative_prompt": [f"{words}{MAX_PROMPT_CHARS}."]}
    refused = page_submit(client, acme, prompt="a red star", negative_prompt=TOO_LONG)
    assert refused.context["form"].errors["negative_prompt"] == [f"{words}{MAX_PROMPT_CHARS}."]
    assert api_submit(acme, prompt="a red star", negative_prompt=LONGEST).status_code == 201


def test_the_page_tells_the_browser_the_limit_and_the_feedback_uses_it(client, acme, policy):
    client.force_login(acme.users["creator"])
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert page.count(f'maxlength="{MAX_PROMPT_CHARS}"') == 2  # prompt and negative prompt
    feedback = client.post(f"/projects/{acme.project.slug}/policy-check/", {"prompt": TOO_LONG})
    assert feedback.status_code == 200 and feedback.context["error"] == REFUSED
    feedback = client.post(f"/projects/{acme.project.slug}/policy-check/", {"prompt": LONGEST})
    assert feedback.context["outcome"] == "allow" and "error" not in feedback.context
