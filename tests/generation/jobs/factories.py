import factory
from django.conf import settings
from factory.django import DjangoModelFactory

from generation.jobs.models import GenerationJob, GenerationRequest, ModelProfile
from tests.imprimatur.tenancy.factories import (
    BrandProjectFactory,
    OrganizationFactory,
    UserFactory,
)


class GenerationRequestFactory(DjangoModelFactory):
    class Meta:
        model = GenerationRequest

    project = factory.SubFactory(BrandProjectFactory)
    created_by = factory.SubFactory(UserFactory)
    prompt = "a red star on a navy background"
    model_profile = factory.LazyAttribute(
        lambda request: (
            request.project.model_profiles.first()
            or ModelProfileFactory(organization=request.project.organization)
        )
    )
    model_name = factory.LazyAttribute(lambda request: request.model_profile.name)
    width = 64
    height = 64
    steps = 2
    guidance_scale = 7.5
    seed = 42
    num_images = 1


class GenerationJobFactory(DjangoModelFactory):
    class Meta:
        model = GenerationJob

    request = factory.SubFactory(GenerationRequestFactory)
    total_steps = factory.LazyAttribute(lambda job: job.request.steps)


class ModelProfileFactory(DjangoModelFactory):
    """A profile written straight to the database: `services.model_profile_save` (which
    reads the checkpoint) is tested on its own."""

    class Meta:
        model = ModelProfile

    organization = factory.SubFactory(OrganizationFactory)
    name = "tiny-sd"
    display_name = "Tiny SD"
    path = factory.LazyFunction(lambda: str(settings.IMPRIMATUR_TINY_MODEL_PATH))
    capabilities = ["text-to-image", "image-to-image", "inpainting"]
    sizes = [64, 96, 128, 256]
    default_size = 64
    default_steps = 20
    max_steps = 100
    max_guidance = 30.0
    max_images = 4
    pipeline_class = "StableDiffusionPipeline"


def approved_asset(tenant, colour=(0, 90, 0)):
    """An approved asset of ``tenant`` with a published copy: real PNG files in the default
    storage, but unsigned (tests of who may download; test_provenance_flow tests what is
    in them)."""
    import io

    from django.core.files.base import ContentFile
    from PIL import Image

    from generation.jobs.models import Asset

    def png(fill) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (16, 16), fill).save(out, format="PNG")
        return out.getvalue()

    job = GenerationJobFactory(
        request__project=tenant.project, request__status="succeeded", status="succeeded"
    )
    asset = Asset(request=job.request, job=job, index=0, seed=1, width=16, height=16,
                  sha256="0" * 64, status=Asset.Status.APPROVED)  # fmt: skip
    asset.image.save("image.png", ContentFile(png((200, 30, 30))), save=False)
    asset.published_image.save("approved.png", ContentFile(png(colour)), save=False)
    asset.save()
    return asset
