from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "generation.jobs"
    label = "jobs"
    verbose_name = "Generation"
