from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "generation.jobs"
    label = "jobs"
    verbose_name = "Generation"

    def ready(self) -> None:
        # Re-checks of a prompt policy run the new draft over past requests' prompts;
        # governance never imports generation, so generation hands them over.
        # Likewise, policy quotas count the images that requests asked for.
        from generation.jobs.selectors import images_requested, recent_prompts
        from governance.policies.services import register_prompt_source, register_usage_source

        register_prompt_source(recent_prompts)
        register_usage_source(images_requested)
