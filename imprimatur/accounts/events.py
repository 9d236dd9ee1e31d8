"""The audit events of logins, registered from ``AppConfig.ready``.

Not every failed login is an event: an attacker could otherwise write to the audit log as
fast as they can send guesses. What is recorded is at most one event per address per
window (``accounts.login.throttle``, when its failures reach the limit), one per account
and lock (``accounts.login.lock``; names that are nobody's are locked without an event)
and every unlock. Each failed login that was checked is logged (logger ``imprimatur.accounts``,
INFO; refused ones at DEBUG, since their number has no bound)."""

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "accounts.login.throttle": "Failed logins from one address reached the limit: further "
    "password logins from it are refused until the window ends.",
    "accounts.login.lock": "An account was locked after too many failed logins.",
    "accounts.login.unlock": "An admin (or an operator's command) unlocked an account that "
    "failed logins had locked.",
}


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def login_throttled(*, address: str, failures: int, window_seconds: int):
    return audit_record(
        action="accounts.login.throttle",
        data={"address": address, "failures": failures, "window_seconds": window_seconds},
    )


def account_locked(*, lock, user, organizations: list, window_seconds: int):
    """One event in each of the user's organisations (their admins and auditors see it)."""
    data = {
        "user": user.get_username(),
        "failures": lock.failures,
        "address": lock.address,
        "window_seconds": window_seconds,
        "locked_until": _iso(lock.locked_until),
    }
    return [
        audit_record(action="accounts.login.lock", organization=org, target=user, data=data)
        for org in (organizations or [None])
    ]


def account_unlocked(*, lock, user, actor, organizations: list, via: str, operator: str = ""):
    data = {
        "user": user.get_username(),
        "locked_at": _iso(lock.locked_at),
        "failures": lock.failures,
        "via": via,
        **({"operator": operator} if operator else {}),
    }
    return [
        audit_record(
            action="accounts.login.unlock", actor=actor, organization=org, target=user, data=data
        )
        for org in (organizations or [None])
    ]
