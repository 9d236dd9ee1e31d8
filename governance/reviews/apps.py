from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "governance.reviews"
    label = "reviews"

    def ready(self) -> None:
        from governance.audit.reports import register_report_section
        from governance.reviews.reports import reviews_section

        register_report_section("reviews", reviews_section, order=50)
