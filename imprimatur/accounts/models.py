"""A username locked after too many failed logins, kept in the database (not only in the
cache) so that a restart or a flushed cache does not lift it."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccountLock(models.Model):
    """The lock of one username (normalised: NFKC, case-folded). A name that is nobody's is
    locked the same way, so a lock tells nobody whether the account exists."""

    username = models.CharField(max_length=150, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The account the username was one of when it was locked.",
    )
    locked_at = models.DateTimeField()
    locked_until = models.DateTimeField(
        null=True, blank=True, help_text="Empty: locked until an admin unlocks it."
    )
    failures = models.PositiveIntegerField(help_text="Failed logins that led to the lock.")
    address = models.CharField(max_length=64, blank=True, help_text="Of the last failure.")

    def __str__(self) -> str:
        return f"lock of {self.username}"

    def is_active(self, now=None) -> bool:
        return self.locked_until is None or self.locked_until > (now or timezone.now())
