"""Reads: the lock of a user or a username."""

import unicodedata

from django.db.models import Q
from django.utils import timezone

from imprimatur.accounts.models import AccountLock


def username_normalise(username: str) -> str:
    """What the throttles and locks count a typed username as: NFKC, case-folded, trimmed,
    so ``Alice`` and ``ALICE `` are one name."""
    return unicodedata.normalize("NFKC", str(username)).casefold().strip()


def _active(locks) -> AccountLock | None:
    now = timezone.now()
    return next((lock for lock in locks if lock.is_active(now)), None)


def lock_for_username(username: str) -> AccountLock | None:
    """The active lock of a typed username, else None."""
    return _active(AccountLock.objects.filter(username=username_normalise(username)))


def account_lock(user) -> AccountLock | None:
    """The active lock of ``user`` (its ``locked_at``, ``locked_until``, None: until an admin
    unlocks it, and ``failures``), else None: what the members page shows as "locked"."""
    return account_locks([user]).get(user.pk)


def account_locks(users) -> dict[int, AccountLock]:
    """``account_lock`` for many users in one query: user id → active lock (locked users
    only)."""
    users = list(users)
    by_name = {username_normalise(user.get_username()): user.pk for user in users}
    locks = AccountLock.objects.filter(
        Q(user__in=[user.pk for user in users]) | Q(username__in=list(by_name))
    )
    now = timezone.now()
    found: dict[int, AccountLock] = {}
    for lock in locks:
        if lock.is_active(now):
            user_id = lock.user_id or by_name.get(lock.username)
            if user_id is not None:
                found.setdefault(user_id, lock)
    return found
