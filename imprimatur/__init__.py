"""Imprimatur: the Django project (settings, URLs, Celery app) and its platform apps."""

from imprimatur.celery import app as celery_app

__all__ = ["celery_app"]
