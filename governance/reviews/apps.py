from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "governance.reviews"
    label = "reviews"

    def ready(self) -> None:
        from governance.audit.registry import register_actions
        from governance.reviews.events import ACTIONS

        register_actions(self.label, ACTIONS)

        from governance.audit.reports import register_report_section
        from governance.reviews.reports import reviews_section

        register_report_section("reviews", reviews_section, order=50)

        # The audit report's activity table: a column for this app's events.
        from governance.audit.reports import register_activity_column

        register_activity_column("reviews", "Review events", prefix="reviews.", order=40)
