from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "imprimatur.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from governance.audit.registry import register_actions
        from governance.audit.signals import checkpoint_signed, event_recorded
        from governance.reviews.services import task_opened
        from imprimatur.webhooks import receivers
        from imprimatur.webhooks.events import ACTIONS

        register_actions(self.label, ACTIONS)
        event_recorded.connect(receivers.on_audit_event, dispatch_uid="webhooks-audit")
        task_opened.connect(receivers.on_task_opened, dispatch_uid="webhooks-review-task")
        checkpoint_signed.connect(
            receivers.on_checkpoint_signed, dispatch_uid="webhooks-checkpoint"
        )
