from django.apps import AppConfig


class StylesConfig(AppConfig):
    name = "generation.styles"
    label = "styles"
    verbose_name = "Brand styles"

    def ready(self) -> None:
        from django.urls import reverse

        from generation.styles.events import ACTIONS
        from generation.styles.models import StyleModel
        from generation.styles.reviewing import (
            STYLE_REVIEW,
            on_style_review_decided,
            style_review_evidence,
        )
        from governance.audit.registry import register_actions
        from governance.reviews.registry import ReviewableType, register_reviewable
        from governance.reviews.services import review_decided

        register_actions(self.label, ACTIONS)
        # Trained styles are reviewable: compliance approves them before any request uses one.
        register_reviewable(
            ReviewableType(
                kind=STYLE_REVIEW,
                model=StyleModel,
                label="Style review",
                evidence_template="styles/_review_style.html",
                requester=lambda style: style.created_by,
                url=lambda style: reverse("styles:style", args=[style.pk]),
                evidence_context=style_review_evidence,
            )
        )
        review_decided.connect(on_style_review_decided, dispatch_uid="generation.style_review")
