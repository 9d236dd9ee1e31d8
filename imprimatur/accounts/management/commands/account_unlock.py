"""``manage.py account_unlock <username>``: lift a lock from the shell (audited)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from imprimatur.accounts.selectors import account_lock
from imprimatur.accounts.services import account_unlock


class Command(BaseCommand):
    help = (
        "Unlock an account that too many failed logins locked, and start its count of failed "
        "logins from zero. Recorded in the audit log as accounts.login.unlock (via "
        "'command', with the operating-system user who ran it). For operators, e.g. when "
        "every admin of an organisation is locked out."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The account's username (exactly).")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        lock = account_lock(user)
        if account_unlock(user=user, actor=None, via="command"):
            self.stdout.write(
                self.style.SUCCESS(
                    f"Unlocked {username} (locked at {lock.locked_at:%Y-%m-%d %H:%M} UTC)."
                )
            )
        else:
            self.stdout.write(f"{username} was not locked; its count of failed logins is reset.")
