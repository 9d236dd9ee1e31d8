"""The init image is kept after a form error on the project page (issue 18): the page says
so and sends it again with the next try; a reference made for someone else is ignored."""

import hashlib
import re

import pytest

from generation.jobs import dispatch
from generation.jobs.models import GenerationRequest
from imprimatur.tenancy.models import Membership
from tests.generation.jobs.test_image_inputs import image_file
from tests.imprimatur.tenancy.factories import UserFactory

pytestmark = pytest.mark.django_db


def form(acme, **changes) -> dict:
    return {"prompt": "warmer", "model": acme.model.name, "mode": "image-to-image",
            "width": 64, "height": 64, "num_images": 1, "steps": 2, "guidance_scale": 7.5,
            "strength": 0.5, **changes}  # fmt: skip


def test_the_init_image_survives_a_form_error(client, acme, monkeypatch):
    monkeypatch.setattr(dispatch, "job_send", lambda job_id, queue: None)  # a fake broker
    url = f"/projects/{acme.project.slug}/"
    upload = image_file("photo.png", "orange")
    sent = upload.read()
    upload.seek(0)
    client.force_login(acme.users["creator"])
    page = client.post(url, form(acme, steps=1000, init_image=upload))
    assert page.status_code == 400
    text = page.content.decode()
    assert 'data-kept-upload="init_image"' in text and "<strong>photo.png</strong>" in text
    token = re.search(r'name="kept_init_image" value="([^"]+)"', text).group(1)

    # Another creator cannot use the reference: for them there is no init image.
    someone = UserFactory(username="acme-creator-2")
    Membership.objects.create(user=someone, organization=acme.organization, role="creator")
    client.force_login(someone)
    other = client.post(url, form(acme, kept_init_image=token))
    assert other.status_code == 400 and "image-to-image needs this image" in other.content.decode()

    client.force_login(acme.users["creator"])
    # Another error: the same upload is still kept (by the same reference).
    again = client.post(url, form(acme, steps=1000, kept_init_image=token)).content.decode()
    assert f'name="kept_init_image" value="{token}"' in again
    response = client.post(url, form(acme, kept_init_image=token))
    assert response.status_code == 302
    request = GenerationRequest.objects.get()
    assert request.init_image and request.init_image_sha256 == hashlib.sha256(sent).hexdigest()
