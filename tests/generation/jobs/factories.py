import factory
from factory.django import DjangoModelFactory

from generation.jobs.models import GenerationJob, GenerationRequest
from tests.imprimatur.tenancy.factories import BrandProjectFactory, UserFactory


class GenerationRequestFactory(DjangoModelFactory):
    class Meta:
        model = GenerationRequest

    project = factory.SubFactory(BrandProjectFactory)
    created_by = factory.SubFactory(UserFactory)
    prompt = "a red star on a navy background"
    model_name = "tiny-sd"
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
