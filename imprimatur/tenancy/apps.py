from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "imprimatur.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"

    def ready(self) -> None:
        from governance.audit.registry import register_actions
        from imprimatur.tenancy.events import ACTIONS

        register_actions(self.label, ACTIONS)
