"""Password logins, throttled and locked out; unlocking.

``password_login`` is the one way to check a password (the HTML login's form and the API's
token endpoint call it). In order, before any password is checked:

1. a locked username is refused (``AccountLocked``), the right password included;
2. the attempt is counted under the client's address (``IMPRIMATUR_LOGIN_FAILURES_PER_ADDRESS``
   per window) and then under the username (``IMPRIMATUR_LOGIN_FAILURES_PER_ACCOUNT``); over
   either limit it is refused (``LoginThrottled``, with the seconds left in the window).

Counting comes first, so concurrent guesses cannot all pass a check made before any of them
was counted; a login that succeeds takes its counts back, so only failures stay counted.
The failure that brings a username to its limit locks it (``AccountLock``) for
``IMPRIMATUR_LOGIN_LOCKOUT_SECONDS`` (0: until an admin unlocks it).
"""

import getpass
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from imprimatur.accounts import events
from imprimatur.accounts.models import AccountLock
from imprimatur.accounts.selectors import lock_for_username, username_normalise
from imprimatur.errors import AccountLocked, LoginThrottled
from imprimatur.ratelimit import counters
from imprimatur.ratelimit.addresses import address_bucket, client_address
from imprimatur.tenancy.models import Membership, Organization
from imprimatur.tenancy.permissions import Action

logger = logging.getLogger("imprimatur.accounts")


def _window() -> counters.Window:
    return counters.Window(settings.IMPRIMATUR_LOGIN_WINDOW_SECONDS)


def _address_counter(address: str) -> str:
    return f"login:address:{address_bucket(address)}"


def _account_counter(name: str) -> str:
    return f"login:account:{name}"


def locked_message(lock: AccountLock) -> str:
    message = (
        "This account is locked after too many failed logins. An admin of your organisation "
        "can unlock it"
    )
    if lock.locked_until is None:
        return message + "."
    return message + f"; otherwise it unlocks at {lock.locked_until:%Y-%m-%d %H:%M} UTC."


def _throttled(window: counters.Window) -> LoginThrottled:
    seconds = window.remaining()
    minutes = max(1, (seconds + 59) // 60)
    return LoginThrottled(
        "Too many failed logins from your address or for this username. Try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}.",
        retry_after=seconds,
    )


def password_login(*, request, username: str, password: str):
    """The user whose ``username`` and ``password`` these are, else None (a failure, counted);
    raises ``AccountLocked`` or ``LoginThrottled`` without checking the password."""
    lock = lock_for_username(username)
    if lock is not None:
        raise AccountLocked(locked_message(lock), until=lock.locked_until)
    name = username_normalise(username)
    address = client_address(request) if request is not None else ""
    window = _window()
    per_address = settings.IMPRIMATUR_LOGIN_FAILURES_PER_ADDRESS
    per_account = settings.IMPRIMATUR_LOGIN_FAILURES_PER_ACCOUNT
    by_address, by_account = _address_counter(address), _account_counter(name)

    from_address = counters.hit(by_address, window)
    if per_address and from_address > per_address:
        logger.debug("Login refused for %r from %s: the address is throttled", name, address)
        raise _throttled(window)
    for_account = counters.hit(by_account, window)
    if per_account and for_account > per_account:
        logger.debug("Login refused for %r from %s: the username is throttled", name, address)
        raise _throttled(window)

    user = authenticate(request, username=username, password=password)
    if user is not None:
        counters.release(by_address, window)
        counters.release(by_account, window)
        return user
    logger.info(
        "Failed login for %r from %s (%d of %s for the name, %d of %s from the address)",
        name, address, for_account, per_account or "∞", from_address, per_address or "∞",
    )  # fmt: skip
    # A name too long to be anyone's (after normalising) is throttled, never stored as a lock.
    fits = len(name) <= AccountLock._meta.get_field("username").max_length
    if per_account and for_account >= per_account and fits:
        account_lock_create(username=username, failures=for_account, address=address)
    if per_address and from_address == per_address:
        events.login_throttled(
            address=address, failures=from_address, window_seconds=window.seconds
        )
    return None


def _user_named(name: str):
    """The account whose normalised username is ``name``, if one is."""
    User = get_user_model()
    field = User.USERNAME_FIELD
    for user in User.objects.filter(**{f"{field}__iexact": name}):
        if username_normalise(user.get_username()) == name:
            return user
    return None


def _organizations_of(user) -> list[Organization]:
    return list(Organization.objects.filter(memberships__user=user).distinct().order_by("pk"))


@transaction.atomic
def account_lock_create(*, username: str, failures: int, address: str = "") -> AccountLock:
    """Lock ``username`` (audited when it is someone's); an already active lock is kept as
    it is, without a second event."""
    name = username_normalise(username)
    now = timezone.now()
    seconds = settings.IMPRIMATUR_LOGIN_LOCKOUT_SECONDS
    until = now + timedelta(seconds=seconds) if seconds else None
    user = _user_named(name)
    values = {
        "user": user,
        "locked_at": now,
        "locked_until": until,
        "failures": failures,
        "address": address[:64],
    }
    lock, created = AccountLock.objects.select_for_update().get_or_create(
        username=name, defaults=values
    )
    if not created:
        if lock.is_active(now):
            return lock
        for field, value in values.items():
            setattr(lock, field, value)
        lock.save()
    logger.warning("Locked %r after %d failed logins (last from %s)", name, failures, address)
    if user is not None:
        events.account_locked(
            lock=lock,
            user=user,
            organizations=_organizations_of(user),
            window_seconds=settings.IMPRIMATUR_LOGIN_WINDOW_SECONDS,
        )
    # Ended locks of names that are nobody's are of no use to anyone.
    AccountLock.objects.filter(user=None, locked_until__lt=now).exclude(pk=lock.pk).delete()
    return lock


def _organizations_to_unlock(*, actor, user) -> list[Organization]:
    """The organisations in whose name ``actor`` unlocks ``user``: those of ``user`` where
    ``actor`` is an admin (all of them for a superuser or for an operator's command, actor
    None). 404 when ``actor`` cannot see ``user`` at all, 403 when they can but are no admin."""
    if actor is None:
        return _organizations_of(user)
    if not (actor.is_authenticated and actor.is_active):
        raise PermissionDenied("Log in as an admin to unlock an account.")
    if actor.is_superuser:
        return _organizations_of(user)
    managed = Membership.objects.restrict(actor, Action.MANAGE).filter(user=user)
    organizations = list(
        Organization.objects.filter(pk__in=managed.values("organization_id")).order_by("pk")
    )
    if organizations:
        return organizations
    if Membership.objects.restrict(actor, Action.VIEW).filter(user=user).exists():
        raise PermissionDenied(
            f"Only an admin of {user.get_username()}'s organisation may unlock the account."
        )
    raise Http404("No such member.")


@transaction.atomic
def account_unlock(*, user, actor, via: str = "api") -> bool:
    """Lift ``user``'s lock and start its failure count from zero; whether a lock was active
    (only then is the unlock an audit event). ``actor``: a superuser or an admin of one of the
    user's organisations; None for an operator's command (``via="command"``)."""
    organizations = _organizations_to_unlock(actor=actor, user=user)
    name = username_normalise(user.get_username())
    locks = list(AccountLock.objects.select_for_update().filter(Q(user=user) | Q(username=name)))
    now = timezone.now()
    active = [lock for lock in locks if lock.is_active(now)]
    AccountLock.objects.filter(pk__in=[lock.pk for lock in locks]).delete()
    counters.reset(_account_counter(name), _window())
    if not active:
        return False
    operator = ""
    if actor is None:
        try:
            operator = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a container)
            operator = ""
    events.account_unlocked(
        lock=active[0],
        user=user,
        actor=actor,
        organizations=organizations,
        via=via,
        operator=operator,
    )
    logger.warning("Unlocked %r (%s)", name, via)
    return True
