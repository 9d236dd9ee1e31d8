"""The audit actions, registered by the apps that record them. Recording an unregistered action
is an error.

Each app names its actions in its own ``events.py`` (one function per event) and registers
them from ``AppConfig.ready`` with ``register_actions``; this module names no other app's
actions, so ``governance.audit`` depends on no app it audits.
"""

from django.core.exceptions import ImproperlyConfigured

#: Every registered action and what it means, as the audit browser shows it.
ACTIONS: dict[str, str] = {}
#: The app label that registered each action.
OWNERS: dict[str, str] = {}


class UnknownAuditAction(ValueError):
    pass


def register_actions(app_label: str, actions: dict[str, str]) -> None:
    """Register ``actions`` (name → description) as recorded by ``app_label``. Registering
    the same name again from the same app is harmless; from another app it is an error."""
    for name, description in actions.items():
        owner = OWNERS.get(name)
        if owner is not None and owner != app_label:
            raise ImproperlyConfigured(
                f"Audit action {name!r} is registered by {owner!r} already, not {app_label!r}."
            )
        ACTIONS[name] = description
        OWNERS[name] = app_label


def ensure_registered(action: str) -> None:
    if action not in ACTIONS:
        raise UnknownAuditAction(
            f"Audit action {action!r} is not registered: add it to its app's events.py."
        )
