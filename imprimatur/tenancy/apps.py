from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "imprimatur.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"
