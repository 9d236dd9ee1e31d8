from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "imprimatur.identity"
    label = "identity"
    verbose_name = "Identity (single sign-on)"

    def ready(self) -> None:
        from governance.audit.registry import register_actions
        from imprimatur.identity.events import ACTIONS

        register_actions(self.label, ACTIONS)
