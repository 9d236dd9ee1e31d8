from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "governance.policies"
    label = "policies"

    def ready(self) -> None:
        from governance.audit.registry import register_actions
        from governance.policies.events import ACTIONS

        register_actions(self.label, ACTIONS)

        from governance.audit.reports import register_activity_column

        register_activity_column("policies", "Policy events", prefix="policies.", order=50)
