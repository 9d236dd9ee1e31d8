"""Object storage: STORAGE_URL parsing (good URLs, bad ones refused at start with a clear
message), and the platform's files on a real S3 server (SeaweedFS, tests/s3.py): private
objects in the bucket, downloads only through permission-checked views, signed URLs that
expire."""

import io
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from PIL import Image

from generation.jobs import worker
from imprimatur.storage import FILESYSTEM_BACKEND, S3_BACKEND, storage_backend
from imprimatur.tenancy import services as tenancy_services
from imprimatur.tenancy.models import BrandReferenceImage
from tests.conftest import submit, wait_until_finished
from tests.generation.jobs.factories import GenerationJobFactory

REPO = Path(__file__).resolve().parents[2]


# --- STORAGE_URL ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["", "  ", "file://"])
def test_unset_or_bare_file_url_is_media_root(url):
    # No location: FileSystemStorage reads MEDIA_ROOT itself.
    assert storage_backend(url, env={}) == {"BACKEND": FILESYSTEM_BACKEND}


@pytest.mark.parametrize("url", ["/srv/media", "file:///srv/media"])
def test_a_local_folder(url):
    assert storage_backend(url, env={}) == {
        "BACKEND": FILESYSTEM_BACKEND,
        "OPTIONS": {"location": "/srv/media"},
    }


def test_an_s3_url_gives_private_unique_objects_and_checksums_only_when_required():
    backend = storage_backend(
        "s3://assets?endpoint=http://127.0.0.1:8333&region=eu-west-1&expire=60", env={}
    )
    assert backend["BACKEND"] == S3_BACKEND
    options = backend["OPTIONS"]
    assert options["bucket_name"] == "assets"
    assert options["endpoint_url"] == "http://127.0.0.1:8333"
    assert options["region_name"] == "eu-west-1"
    assert options["default_acl"] is None  # no public-read: the bucket's private default
    assert options["querystring_auth"] is True
    assert options["querystring_expire"] == 60
    assert options["file_overwrite"] is False
    config = options["client_config"]
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.s3 == {"addressing_style": "path"}
    assert config.signature_version == "s3v4"


def test_bucket_endpoint_and_region_may_come_from_the_aws_variables():
    options = storage_backend(
        "s3://",
        env={
            "AWS_STORAGE_BUCKET_NAME": "from-env",
            "AWS_S3_ENDPOINT_URL": "https://s3.example.com",
            "AWS_S3_REGION_NAME": "us-east-2",
        },
    )["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"], options["region_name"]) == (
        "from-env",
        "https://s3.example.com",
        "us-east-2",
    )
    assert options["querystring_expire"] == 300
    # AWS itself: no endpoint, and boto3 picks the addressing style.
    aws = storage_backend("s3://on-aws", env={})["OPTIONS"]
    assert aws["endpoint_url"] is None
    assert aws["client_config"].s3 == {"addressing_style": "auto"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://bucket", "unknown scheme 'ftp'"),
        ("media", "unknown scheme '(none)'"),
        ("s3://", "names no bucket"),
        ("s3://?endpoint=http://127.0.0.1:1", "names no bucket"),
        ("s3://b1?endpoint=127.0.0.1:8333", "is not an http(s) URL"),
        ("s3://b1?bucket=x&acl=public-read", "unknown parameter(s) acl, bucket"),
        ("s3://b1/some/prefix", "takes no path"),
        ("s3://b1?expire=0", "expire must be a positive"),
        ("s3://b1?expire=soon", "expire must be a positive"),
        ("file://media", "file:///absolute/path"),
    ],
)
def test_a_bad_storage_url_is_refused_clearly(url, message):
    with pytest.raises(ImproperlyConfigured) as refused:
        storage_backend(url, env={})
    assert message in str(refused.value)
    assert "STORAGE_URL" in str(refused.value)


def test_credentials_in_the_url_are_refused_without_being_echoed():
    with pytest.raises(ImproperlyConfigured) as refused:
        storage_backend("s3://key:hunter2@bucket", env={})
    assert "AWS_ACCESS_KEY_ID" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_a_process_with_a_bad_storage_url_stops_at_start(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update({"IMPRIMATUR_VAR_DIR": str(tmp_path), "STORAGE_URL": "s3://"})
    env.pop("AWS_STORAGE_BUCKET_NAME", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: STORAGE_URL 's3://' names no bucket" in result.stderr


# --- On SeaweedFS -----------------------------------------------------------------------------


def red_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (215, 35, 35)).save(buffer, format="PNG")
    return buffer.getvalue()


def anonymous_get(url: str) -> int:
    """The status of an unsigned GET (no credentials, no signature)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.django_db
def test_an_asset_is_a_private_object_served_only_to_its_organisation(s3_storage, acme, globex):
    job = GenerationJobFactory(
        request__project=acme.project, request__created_by=acme.users["creator"]
    )
    png = red_png()
    asset = worker.asset_store(job=job, index=0, seed=1, png=png)
    assert type(asset.image.storage._wrapped).__name__ == "S3Storage"

    s3 = s3_storage.client()
    head = s3.head_object(Bucket=s3_storage.bucket, Key=asset.image.name)
    assert head["ContentLength"] == len(png)
    assert anonymous_get(f"{s3_storage.endpoint}/{s3_storage.bucket}/{asset.image.name}") == 403

    response = acme.client("creator").get(f"/api/v1/assets/{asset.pk}/file/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == png
    # Streamed through the app: no redirect to the bucket, no signed URL handed out.
    assert "Location" not in response
    assert acme.client("reviewer").get(f"/api/v1/assets/{asset.pk}/file/").status_code == 200
    assert globex.client("admin").get(f"/api/v1/assets/{asset.pk}/file/").status_code == 404


@pytest.mark.django_db
def test_a_second_file_of_the_same_name_does_not_overwrite_the_first(s3_storage):
    from django.core.files.base import ContentFile

    first = default_storage.save("overwrite-check/same.txt", ContentFile(b"one"))
    second = default_storage.save("overwrite-check/same.txt", ContentFile(b"two"))
    assert first != second
    with default_storage.open(first) as stored:
        assert stored.read() == b"one"


@pytest.mark.django_db
def test_a_brand_reference_image_is_in_the_bucket_and_served_to_members_only(
    s3_storage, acme, globex, client
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    reference = tenancy_services.reference_image_add(
        project=acme.project,
        user=acme.users["admin"],
        image_file=SimpleUploadedFile("red.png", red_png(), content_type="image/png"),
    )
    s3 = s3_storage.client()
    assert s3.head_object(Bucket=s3_storage.bucket, Key=reference.image.name)["ContentLength"] > 0
    client.force_login(acme.users["creator"])
    response = client.get(f"/reference-images/{reference.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    client.force_login(globex.users["admin"])
    assert client.get(f"/reference-images/{reference.pk}/").status_code == 404
    assert BrandReferenceImage.objects.filter(pk=reference.pk).exists()


def test_a_signed_url_stops_working_when_it_expires(seaweedfs):
    """The platform streams files itself; a signed URL (storage.url(), for whoever calls it)
    is short-lived, and refused once its time is up."""
    from storages.backends.s3 import S3Storage

    env = seaweedfs.environment()
    options = storage_backend(seaweedfs.storage_url + "&expire=2", env=env)["OPTIONS"]
    storage = S3Storage(
        access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env["AWS_SECRET_ACCESS_KEY"], **options
    )
    from django.core.files.base import ContentFile

    name = storage.save("expiry-check/signed.png", ContentFile(red_png()))
    url = storage.url(name)
    assert "X-Amz-Expires=2" in url
    assert anonymous_get(url) == 200
    time.sleep(3.5)
    assert anonymous_get(url) == 403


@pytest.mark.e2e
def test_a_real_worker_stores_generated_images_in_the_bucket(
    s3_storage, acme, globex, start_worker
):
    """The worker process gets STORAGE_URL and the AWS_* variables from the test's
    environment, so its images land in the same bucket the web side reads."""
    celery_worker = start_worker()
    client = acme.client("creator")
    request_id = submit(
        acme,
        {"prompt": "a red star on a navy background", "width": 64, "height": 64,
         "steps": 2, "num_images": 1, "seed": 7},
    )  # fmt: skip
    request = wait_until_finished(request_id)
    assert request.status == "succeeded", (request.error, celery_worker.output())
    asset = request.assets.get()
    stored = s3_storage.client().get_object(Bucket=s3_storage.bucket, Key=asset.image.name)
    png = stored["Body"].read()
    assert png.startswith(b"\x89PNG") and len(png) == stored["ContentLength"]

    response = client.get(f"/api/v1/assets/{asset.pk}/file/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png
    assert globex.client("creator").get(f"/api/v1/assets/{asset.pk}/file/").status_code == 404
