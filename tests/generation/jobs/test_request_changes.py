"""Request changes: a reviewer asks for changes with a comment, the creator revises the
prompt and submits it again; the new request records the old one, and the reviewer of the
new one sees the earlier version with the comment."""

import pytest

from generation.jobs import dispatch, selectors, worker
from generation.jobs.models import Asset, GenerationRequest
from governance.reviews.models import Notification, Review, ReviewTask
from governance.reviews.services import task_decide

pytestmark = pytest.mark.django_db


def test_changes_need_a_comment_and_the_creator_revises(client, acme, tiny_model_path, monkeypatch):
    monkeypatch.setattr(dispatch, "job_send", lambda job_id, queue: None)  # a fake broker
    from tests.generation.jobs.factories import GenerationJobFactory

    job = GenerationJobFactory(
        request__project=acme.project,
        request__created_by=acme.users["creator"],
        request__prompt="a blue star on a yellow background",
    )
    worker.generation_job_run(job_id=job.pk)
    asset = Asset.objects.get(job=job)
    task = ReviewTask.objects.get(review__kind="asset", review__object_id=asset.pk, stage_index=0)
    with pytest.raises(Exception, match="Say what to change"):
        task_decide(task=task, user=acme.users["reviewer"], decision="changes")
    task_decide(
        task=task, user=acme.users["reviewer"], decision="changes", comment="Make it red on navy."
    )
    asset.refresh_from_db()
    assert asset.status == "changes"
    assert Review.objects.get(pk=task.review_id).status == "changes"
    note = Notification.objects.get(kind="decided")
    assert "needs changes, asked by acme-reviewer" in note.message

    client.force_login(acme.users["creator"])
    page = client.get(f"/requests/{job.request_id}/").content.decode()
    assert "A reviewer asked for changes." in page and "data-revise" in page
    assert "Make it red on navy." in page  # the reviewer's comment, beside the image
    response = client.post(
        f"/requests/{job.request_id}/revise/", {"prompt": "a red star on a navy background"}
    )
    revised = GenerationRequest.objects.exclude(pk=job.request_id).get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{revised.pk}/"
    assert revised.rerun_of_id == job.request_id and revised.seed == job.request.seed
    assert revised.prompt == "a red star on a navy background"
    history = selectors.request_history(revised)
    assert history[0]["request"].pk == job.request_id
    assert [d.comment for d in history[0]["comments"]] == ["Make it red on navy."]
    # Someone else may not revise the creator's request.
    client.force_login(acme.users["reviewer"])
    client.post(f"/requests/{job.request_id}/revise/", {"prompt": "anything"})
    assert GenerationRequest.objects.count() == 2


def test_a_derivative_of_an_approved_image_needs_its_own_approval(
    client, acme, tiny_model_path, monkeypatch
):
    monkeypatch.setattr(dispatch, "job_send", lambda job_id, queue: None)  # a fake broker
    from tests.generation.jobs.factories import GenerationJobFactory

    job = GenerationJobFactory(
        request__project=acme.project, request__created_by=acme.users["creator"]
    )
    worker.generation_job_run(job_id=job.pk)
    asset = Asset.objects.get(job=job)
    client.force_login(acme.users["creator"])
    url = f"/projects/{acme.project.slug}/"
    assert client.get(f"{url}?from_asset={asset.pk}").status_code == 404  # not approved yet
    Asset.objects.filter(pk=asset.pk).update(status="approved")
    page = client.get(f"{url}?from_asset={asset.pk}").content.decode()
    assert f'data-derivative-of="{asset.pk}"' in page
    response = client.post(
        url,
        {
            "from_asset": asset.pk,
            "prompt": "a red star on a navy background",
            "model": acme.model.name,
            "mode": "image-to-image",
            "strength": 0.6,
            "width": 64,
            "height": 64,
            "num_images": 1,
            "steps": 2,
            "guidance_scale": 5,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    derived = GenerationRequest.objects.exclude(pk=job.request_id).get()
    assert derived.parent_asset_id == asset.pk and derived.mode == "image-to-image"
    assert derived.init_image
    worker.generation_job_run(job_id=derived.jobs.get().pk)
    new_asset = Asset.objects.get(request=derived)
    assert Review.objects.filter(kind="asset", object_id=new_asset.pk).exists()
    page = client.get(f"/requests/{derived.pk}/").content.decode()
    assert "Derived from approved" in page
