"""A test URLconf: the site's URLs and a page that fails (for the branded 500 page)."""

from django.core.exceptions import SuspiciousOperation
from django.urls import path

from imprimatur.urls import handler400, handler403, handler404, handler500, urlpatterns


def boom(request):
    raise RuntimeError("A failure on purpose (test_error_pages).")


def suspicious(request):
    raise SuspiciousOperation("A bad request on purpose (test_error_pages).")


urlpatterns = [
    path("test-boom/", boom),
    path("api/v1/test-boom/", boom),
    path("test-suspicious/", suspicious),
    *urlpatterns,
]
__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
