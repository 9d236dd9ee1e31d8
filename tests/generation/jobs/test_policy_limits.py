"""Policy limits on requests: parameters over a limit and models off the allowlist are
refused field by field, quotas stop a user or project when spent (also under concurrent
submissions), and the concepts for the image checks travel with the request."""

import threading

import pytest
from django.db import connection

from generation.jobs import dispatch, services
from generation.jobs.models import GenerationRequest
from governance.policies.services import policy_create, policy_publish
from imprimatur.errors import PolicyRefused
from imprimatur.tenancy.models import Membership
from tests.governance.policies.factories import document
from tests.imprimatur.tenancy.factories import BrandProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def publish(tenant, *, limits=None, output_concepts=(), project=None):
    policy = policy_create(
        organization=tenant.organization,
        project=project,
        user=tenant.users["admin"],
        draft={
            **document(output_concepts=output_concepts),
            "limits": limits or {},
        },
    )
    return policy_publish(policy=policy, user=tenant.users["admin"])


@pytest.fixture
def other_creator(acme):
    user = UserFactory(username="acme-creator-2")
    Membership.objects.create(user=user, organization=acme.organization, role="creator")
    acme.users["creator-2"] = user
    return user


def submit(tenant, body, project=None, role="creator"):
    project = project or tenant.project
    return tenant.client(role).post(
        f"/api/v1/projects/{project.slug}/requests/",
        {"prompt": "a red star", **body},
        format="json",
    )


def test_parameters_over_the_limits_are_refused_field_by_field(acme):
    version = publish(acme, limits={"max_steps": 10, "max_images": 2, "models": ["other-model"]})
    response = submit(acme, {"steps": 11, "num_images": 3})
    assert response.status_code == 400
    payload = response.json()
    assert payload["errors"] == {
        "model": ["The prompt policy allows only these models: other-model."],
        "steps": ["The prompt policy allows at most 10 for steps."],
        "num_images": ["The prompt policy allows at most 2 for images per request."],
    }
    assert payload["data"]["limits"]["max_steps"] == 10
    assert payload["data"]["policy_versions"] == [version.pk]
    assert not GenerationRequest.objects.exists()


def test_the_form_shows_a_limit_next_to_its_field(client, acme):
    publish(acme, limits={"max_steps": 10})
    client.force_login(acme.users["creator"])
    response = client.post(
        f"/projects/{acme.project.slug}/",
        {
            "prompt": "a red star",
            "model": acme.model.name,
            "mode": "text-to-image",
            "width": 64,
            "height": 64,
            "num_images": 1,
            "steps": 12,
            "guidance_scale": 7.5,
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["steps"] == ["The prompt policy allows at most 10 for steps."]
    assert not GenerationRequest.objects.exists()


def test_output_concepts_and_safety_classes_are_stored_on_the_request(acme):
    policy = policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft={
            **document(output_concepts=["blood", {"concept": "weapons", "action": "fail"}]),
            "safety_classes": {"BELLY_EXPOSED": {"action": "ignore"}},
        },
    )
    policy_publish(policy=policy, user=acme.users["admin"])
    response = submit(acme, {})
    assert response.status_code == 201, response.json()
    request = GenerationRequest.objects.get()
    assert request.policy_output_concepts == [
        {"concept": "blood", "action": "flag"},
        {"concept": "weapons", "action": "fail"},
    ]
    assert request.policy_safety_classes == {"BELLY_EXPOSED": {"action": "ignore"}}


def test_a_user_quota_counts_images_and_says_when_it_renews(acme, other_creator):
    publish(acme, limits={"quotas": {"user_day": 3}})
    assert submit(acme, {"num_images": 2}).status_code == 201
    over = submit(acme, {"num_images": 2})
    assert over.status_code == 400
    [message] = over.json()["errors"]["quota"]
    assert "asks for 2 images, but only 1 image is left of your daily quota of 3 images" in message
    assert "wait until" in message
    [use] = over.json()["data"]["quotas"]
    assert (use["quota"], use["used"], use["remaining"]) == ("user_day", 2, 1)
    assert submit(acme, {"num_images": 1}).status_code == 201
    spent = submit(acme, {"num_images": 1})
    assert (
        "your daily quota of 3 images is spent. It renews on" in spent.json()["errors"]["quota"][0]
    )
    # Another user of the organisation has their own quota; a failed request gives back.
    assert submit(acme, {"num_images": 3}, role="creator-2").status_code == 201
    GenerationRequest.objects.filter(created_by=acme.users["creator"], num_images=2).update(
        status=GenerationRequest.Status.FAILED
    )
    assert submit(acme, {"num_images": 2}).status_code == 201


def test_organisation_quotas_count_across_projects_project_quotas_within(acme, other_creator):
    second = BrandProjectFactory(organization=acme.organization, slug="second")
    acme.model.projects.add(second)
    publish(acme, limits={"quotas": {"user_month": 4}})
    publish(acme, project=second, limits={"quotas": {"project_day": 1}})
    assert submit(acme, {"num_images": 3}).status_code == 201
    # The organisation's per-user quota counts the images made in the other project.
    refused = submit(acme, {"num_images": 2}, project=second)
    assert (
        "only 1 image is left of your monthly quota of 4 images"
        in (refused.json()["errors"]["quota"][0])
    )
    assert submit(acme, {"num_images": 1}, project=second).status_code == 201
    # The second project's own quota is spent too; it counts that project only.
    refused = submit(acme, {"num_images": 1}, project=second, role="creator-2")
    [message] = refused.json()["errors"]["quota"]
    assert "this project's daily quota of 1 image in this project is spent" in message


def test_feedback_shows_limit_problems_and_what_is_left(client, acme):
    publish(acme, limits={"max_steps": 10, "quotas": {"user_day": 5}})
    assert submit(acme, {"num_images": 2, "steps": 10}).status_code == 201
    client.force_login(acme.users["creator"])
    page = client.post(
        f"/projects/{acme.project.slug}/policy-check/",
        {"prompt": "a red star", "steps": "12", "guidance_scale": "7.5", "num_images": "x"},
    ).content.decode()
    assert "The prompt policy allows at most 10 for steps." in page
    assert "3 images left of your daily quota of 5 images" in page
    assert "policy-feedback policy-block" in page
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    # The parameters (and the preset, whose template the policy judges) re-check when they
    # change, the prompt as it is typed.
    assert 'hx-params="prompt,negative_prompt,model,width,height,num_images,steps,' in page
    assert page.count('hx-trigger="change"') == 7


def test_feedback_over_the_limits_never_says_allowed(client, acme):
    """Issue 18: a green "Allowed" sat inside the red box listing steps over the limit."""
    publish(acme, limits={"max_steps": 30})
    client.force_login(acme.users["creator"])
    url = f"/projects/{acme.project.slug}/policy-check/"
    page = client.post(url, {"prompt": "a red star", "steps": "50"}).content.decode()
    assert "The prompt policy allows at most 30 for steps." in page
    assert 'data-verdict="limits"' in page and "Allowed" not in page
    assert '<span class="badge policy-block">Not with these settings' in page
    page = client.post(url, {"prompt": "a red star", "steps": "30"}).content.decode()
    assert 'data-verdict="allow"' in page and "Allowed: the prompt policy" in page


def test_the_model_menu_shows_the_effective_maximum(client, acme):
    """The model allows 100 steps and 4 images; the policy 30 and 2: the menu says 30 and 2
    (and the smaller of the two for each, when the model is the tighter)."""
    client.force_login(acme.users["creator"])
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert "Tiny SD — up to 256 px, 100 steps, 4 images" in page
    publish(acme, limits={"max_steps": 30, "max_images": 2, "max_side": 128})
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert "Tiny SD — up to 128 px, 30 steps, 2 images" in page
    assert '<option value="256">' not in page  # a size the policy refuses is not offered


def test_the_model_menu_keeps_the_model_maximum_when_it_is_the_smaller(client, acme):
    publish(acme, limits={"max_steps": 500, "max_images": 1})
    client.force_login(acme.users["creator"])
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert "Tiny SD — up to 256 px, 100 steps, 1 image<" in page


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_cannot_both_take_the_last_images(acme, other_creator, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what is tested; SQLite has none")
    publish(acme, limits={"quotas": {"project_day": 1}})
    enqueued = []
    # A fake: jobs are recorded instead of sent to a broker, since no worker runs here.
    monkeypatch.setattr(dispatch, "job_send", lambda job_id, queue: enqueued.append(job_id))
    barrier = threading.Barrier(2)
    outcomes = []

    def submit_one(role):
        try:
            barrier.wait()
            services.generation_request_submit(
                project=acme.project, user=acme.users[role], prompt="a red star", params={}
            )
            outcomes.append("created")
        except PolicyRefused as error:
            outcomes.append(error.message_dict["quota"][0])
        finally:
            connection.close()

    threads = [
        threading.Thread(target=submit_one, args=(role,)) for role in ("creator", "creator-2")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("created") == 1, outcomes
    [refusal] = [outcome for outcome in outcomes if outcome != "created"]
    assert "this project's daily quota of 1 image (organisation limit per project) is spent" in (
        refusal
    )
    assert GenerationRequest.objects.count() == 1 and len(enqueued) == 1
