from django.apps import AppConfig


class RateLimitConfig(AppConfig):
    name = "imprimatur.ratelimit"
    label = "ratelimit"
    verbose_name = "Rate limits"
