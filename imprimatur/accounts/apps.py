from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "imprimatur.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from governance.audit.registry import register_actions
        from imprimatur.accounts.events import ACTIONS

        register_actions(self.label, ACTIONS)
