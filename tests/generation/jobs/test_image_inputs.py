"""Image-to-image and inpainting requests: uploads are checked by their bytes, stored as bare
PNGs, and given to the engine."""

import hashlib
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from generation.jobs import services, worker
from generation.jobs.models import Asset, GenerationRequest
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


def image_file(name: str, colour: str, fmt: str = "PNG", size=(80, 60)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def post(tenant, data):
    return tenant.client("creator").post(
        f"/api/v1/projects/{tenant.project.slug}/requests/", data, format="multipart"
    )


def test_image_to_image_upload_is_stored_as_png_with_the_senders_digest(acme):
    upload = image_file("photo.jpg", "orange", fmt="JPEG")
    sent = upload.read()
    upload.seek(0)
    response = post(acme, {"prompt": "warmer", "mode": "image-to-image", "init_image": upload,
                           "strength": 0.5})  # fmt: skip
    assert response.status_code == 201, response.json()
    request = GenerationRequest.objects.get(pk=response.json()["id"])
    assert request.init_image_sha256 == hashlib.sha256(sent).hexdigest()
    with request.init_image.open("rb") as stored:
        image = Image.open(stored)
        assert (image.format, image.size, image.mode) == ("PNG", (80, 60), "RGB")
    assert not request.mask_image


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html><body>not an image</body></html>", "not a PNG, JPEG or WebP image"),
        (b"GIF89a" + b"\x00" * 40, "not a PNG, JPEG or WebP image"),
    ],
)
def test_uploads_are_judged_by_their_bytes_not_their_names(acme, content, message):
    upload = SimpleUploadedFile("innocent.png", content, content_type="image/png")
    response = post(acme, {"prompt": "x", "mode": "image-to-image", "init_image": upload})
    assert response.status_code == 400
    assert message in response.json()["errors"]["init_image"][0]
    assert not GenerationRequest.objects.exists()


def test_inpainting_needs_a_mask_and_a_mask_is_refused_elsewhere(acme):
    response = post(acme, {"prompt": "x", "mode": "inpainting",
                           "init_image": image_file("a.png", "red")})  # fmt: skip
    assert response.json()["errors"]["mask_image"] == ["inpainting needs this image."]
    response = post(acme, {"prompt": "x", "mask_image": image_file("m.png", "white")})
    assert response.json()["errors"]["mask_image"] == ["Only used by inpainting."]


def test_a_model_without_the_mode_refuses_it(acme):
    acme.model.capabilities = ["text-to-image"]
    acme.model.save()
    response = post(acme, {"prompt": "x", "mode": "image-to-image",
                           "init_image": image_file("a.png", "red")})  # fmt: skip
    assert response.json()["errors"]["mode"] == ["tiny-sd does not do image-to-image."]


@pytest.mark.parametrize("mode", ["image-to-image", "inpainting"])
def test_image_modes_run_in_the_worker_path(acme, tiny_model_path, mode):
    params = {"mode": mode, "strength": 0.5, "steps": 4, "num_images": 2, "seed": 3,
              "init_image": image_file("a.png", "navy", size=(64, 64))}  # fmt: skip
    if mode == "inpainting":
        params["mask_image"] = image_file("m.png", "white", size=(64, 64))
    request = services.generation_request_submit(
        project=acme.project, user=acme.users["creator"], prompt="a red star", params=params
    )
    job = request.jobs.get()
    finished = worker.generation_job_run(job_id=job.pk, worker="test:1:1")
    assert finished.status == "succeeded", finished.error
    assert finished.total_steps == 2  # 4 steps x strength 0.5
    assets = Asset.objects.filter(job=job).order_by("index")
    sizes_and_seeds = [(asset.width, asset.height, asset.seed) for asset in assets]
    assert sizes_and_seeds == [(64, 64, 3), (64, 64, 4)]
    rerun = services.generation_request_rerun(request=request, user=acme.users["creator"])
    assert rerun.mode == mode and rerun.init_image and rerun.rerun_of == request
    assert rerun.init_image_sha256 == request.init_image_sha256


def test_the_request_page_shows_the_inputs(client, acme):
    job = GenerationJobFactory(request__project=acme.project)
    request = job.request
    request.mode = "image-to-image"
    request.init_image.save("init.png", image_file("a.png", "red"), save=True)
    client.force_login(acme.users["reviewer"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert f'src="/requests/{request.pk}/init.png"' in page
    assert client.get(f"/requests/{request.pk}/init.png").status_code == 200
    assert client.get(f"/requests/{request.pk}/mask.png").status_code == 404
