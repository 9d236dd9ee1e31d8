from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "generation.jobs"
    label = "jobs"
    verbose_name = "Generation"

    def ready(self) -> None:
        from generation.jobs.events import ACTIONS
        from governance.audit.registry import register_actions

        register_actions(self.label, ACTIONS)

        # Re-checks of a prompt policy run the new draft over past requests' prompts;
        # governance never imports generation, so generation hands them over.
        # Likewise, policy quotas count the images that requests asked for.
        from generation.jobs.selectors import images_requested, recent_prompts
        from governance.policies.quotas import register_usage_source
        from governance.policies.services import register_prompt_source

        register_prompt_source(recent_prompts)
        register_usage_source(images_requested)

        # The audit report's sections on requests, prompt policy outcomes, checks, models.
        from generation.jobs import reports
        from governance.audit.reports import register_report_section

        register_report_section("requests", reports.requests_section, order=10)
        register_report_section("policy", reports.policy_section, order=20)
        register_report_section("checks", reports.checks_section, order=30)
        register_report_section("models", reports.models_section, order=40)

        # Requests are reviewable (prompt review); reviews tell generation when one ends.
        from django.urls import reverse

        from generation.jobs.evidence import prompt_review_evidence
        from generation.jobs.gallery import asset_previews, prompt_previews
        from generation.jobs.models import GenerationRequest
        from generation.jobs.reviewing import PROMPT_REVIEW, on_review_decided
        from governance.reviews.registry import ReviewableType, register_reviewable
        from governance.reviews.services import review_decided

        register_reviewable(
            ReviewableType(
                kind=PROMPT_REVIEW,
                model=GenerationRequest,
                label="Prompt review",
                evidence_template="jobs/_review_prompt.html",
                requester=lambda request: request.created_by,
                url=lambda request: reverse("jobs:request", args=[request.pk]),
                evidence_context=prompt_review_evidence,
                previews=prompt_previews,
            )
        )
        review_decided.connect(on_review_decided, dispatch_uid="generation.prompt_review")

        # Generated images are reviewable too (asset review), with their checks as evidence.
        from django.db.models.signals import post_save

        from generation.jobs.checking import reference_image_saved
        from generation.jobs.evidence import asset_review_evidence
        from generation.jobs.models import Asset
        from generation.jobs.reviewing import ASSET_REVIEW, on_asset_review_decided
        from imprimatur.tenancy.models import BrandReferenceImage

        register_reviewable(
            ReviewableType(
                kind=ASSET_REVIEW,
                model=Asset,
                label="Image review",
                evidence_template="jobs/_review_asset.html",
                requester=lambda asset: asset.request.created_by,
                url=lambda asset: (
                    reverse("jobs:request", args=[asset.request_id]) + f"#asset-{asset.pk}"
                ),
                evidence_context=asset_review_evidence,
                previews=asset_previews,
            )
        )
        review_decided.connect(on_asset_review_decided, dispatch_uid="generation.asset_review")
        # New brand reference images are embedded once, by a worker.
        post_save.connect(
            reference_image_saved, sender=BrandReferenceImage, dispatch_uid="generation.embed"
        )

        # The audit report's activity table: requests, blocked prompts, this app's events.
        from governance.audit.reports import register_activity_column

        register_activity_column(
            "requests", "Requests", actions=["generation.request.submit"], order=10
        )
        register_activity_column(
            "blocked", "Prompts blocked", actions=["generation.request.blocked"], order=20
        )
        register_activity_column("generation", "Generation events", prefix="generation.", order=30)
