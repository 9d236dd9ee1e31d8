"""Errors that services raise and every interface (API, UI) answers the same way."""

from django.core.exceptions import ValidationError


class InvalidTransition(Exception):
    """A status change that the object's current status does not allow (HTTP 409)."""

    def __init__(self, obj, current: str, wanted: str):
        self.obj, self.current, self.wanted = obj, str(current), str(wanted)
        super().__init__(f"{obj} cannot go from {self.current!r} to {self.wanted!r}.")


class PolicyRefused(ValidationError):
    """Input that a policy refuses (HTTP 400). ``data`` tells API clients what matched."""

    def __init__(self, message, *, data: dict):
        super().__init__(message)
        self.data = data


class AlreadyDecided(Exception):
    """Someone else decided first: a review task that is no longer open (HTTP 409)."""


class AmbiguousProject(ValidationError):
    """A project slug that several of the user's organisations use (HTTP 400; pages offer the
    choice): the organisation must be named (``?organization=`` or an ``organization`` field).
    """

    def __init__(self, slug: str, organizations: list):
        self.slug, self.organizations = slug, organizations
        names = ", ".join(organization.slug for organization in organizations)
        super().__init__(
            {
                "organization": f"Several of your organisations have a project “{slug}”: "
                f"name the organisation (one of: {names})."
            }
        )


class LastAdmin(Exception):
    """A change that would leave an organisation without an admin (HTTP 409)."""


class LoginThrottled(Exception):
    """Too many failed logins from one address or for one username: refused before the
    password is checked (HTTP 429 with Retry-After: ``retry_after`` seconds)."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class AccountLocked(Exception):
    """A username locked after too many failed logins: refused before the password is
    checked, the right one included (HTTP 403). ``until``: when the lock ends, None when
    only an admin's unlock ends it."""

    def __init__(self, message: str, *, until=None):
        super().__init__(message)
        self.until = until
