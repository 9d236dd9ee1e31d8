from django.apps import AppConfig


class ScimConfig(AppConfig):
    name = "imprimatur.scim"
    label = "scim"
    verbose_name = "SCIM provisioning"

    def ready(self) -> None:
        from governance.audit.registry import register_actions
        from imprimatur.scim.events import ACTIONS

        register_actions(self.label, ACTIONS)
