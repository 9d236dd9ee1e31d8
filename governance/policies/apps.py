from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "governance.policies"
    label = "policies"
