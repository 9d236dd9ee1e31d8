"""Set up or change an organisation's single sign-on (OpenID Connect)."""

import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from imprimatur.identity.models import SingleSignOn
from imprimatur.identity.services import sso_configure
from imprimatur.tenancy.models import GroupRole, Organization
from imprimatur.tenancy.permissions import Role


def _on_off(value: str) -> bool:
    if value.lower() in ("on", "yes", "true", "1"):
        return True
    if value.lower() in ("off", "no", "false", "0"):
        return False
    raise ValueError(value)


class Command(BaseCommand):
    help = (
        "Set up or change an organisation's single sign-on through its OpenID Connect "
        "provider: the issuer (its discovery document is read now), the client registered "
        "there, which provider groups give which roles, and whether members may still sign "
        "in with a password. Options not given keep their value. Register "
        "<IMPRIMATUR_BASE_URL>/accounts/sso/callback/ as the client's redirect URI."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="The organisation's slug.")
        parser.add_argument(
            "--issuer", help="The provider's issuer URL, exactly as it names itself."
        )
        parser.add_argument("--client-id", help="The client id registered at the provider.")
        parser.add_argument(
            "--client-secret-file",
            help="A file holding the client secret (not an argument: it would show in the "
            "process list and shell history); '-' reads standard input.",
        )
        parser.add_argument("--scopes", help='Scopes to ask for (default "openid email profile").')
        parser.add_argument(
            "--groups-claim", help="The claim that lists the user's groups (default: groups)."
        )
        parser.add_argument(
            "--email-domain",
            action="append",
            dest="email_domains",
            metavar="DOMAIN",
            help="A work email domain that finds the organisation on the login page; repeat "
            "for several. Replaces the list.",
        )
        parser.add_argument(
            "--map",
            action="append",
            dest="maps",
            metavar="GROUP=ROLE",
            help=f"A provider group and the role it gives ({', '.join(Role.values)}); repeat "
            "for several. Replaces the organisation's whole group mapping.",
        )
        parser.add_argument(
            "--password-login",
            choices=["on", "off"],
            help="off: members sign in only through the provider, except break-glass admins.",
        )
        parser.add_argument(
            "--break-glass",
            action="append",
            metavar="USERNAME",
            help="An admin of the organisation who keeps their password when password login "
            "is off; repeat for several. Replaces the list.",
        )
        parser.add_argument("--enabled", choices=["on", "off"], help="Offer single sign-on.")
        parser.add_argument(
            "--rediscover",
            action="store_true",
            help="Read the provider's discovery document again (its endpoints changed).",
        )

    def handle(self, *args, **options):
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organisation with the slug {options['organization']!r}.")
        values = {}
        for option, field in (
            ("issuer", "issuer"), ("client_id", "client_id"), ("scopes", "scopes"),
            ("groups_claim", "groups_claim"), ("email_domains", "email_domains"),
        ):  # fmt: skip
            if options[option] is not None:
                values[field] = options[option]
        for option in ("password_login", "enabled"):
            if options[option] is not None:
                values[option] = _on_off(options[option])
        if options["client_secret_file"]:
            values["client_secret"] = self._secret(options["client_secret_file"])
        exists = SingleSignOn.objects.filter(organization=organization).exists()
        if not exists and ("issuer" not in values or "client_id" not in values):
            raise CommandError("A first configuration needs --issuer and --client-id.")
        try:
            sso = sso_configure(
                organization=organization,
                group_roles=self._mapping(options["maps"]),
                break_glass=self._users(options["break_glass"]),
                rediscover=options["rediscover"],
                **values,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        mapping = ", ".join(
            f"{row.group}→{row.role}" for row in GroupRole.objects.filter(organization=organization)
        )
        callback = settings.IMPRIMATUR_BASE_URL.rstrip("/") + reverse("sso-callback")
        self.stdout.write(
            self.style.SUCCESS(f"Single sign-on for {organization}: {sso.issuer}")
            + f"\n  client id: {sso.client_id}; secret {'set' if sso.client_secret else 'not set'}"
            + f"\n  groups claim: {sso.groups_claim}; groups → roles: {mapping or 'none'}"
            + f"\n  password login: {'on' if sso.password_login else 'off'}; break-glass: "
            + (", ".join(u.get_username() for u in sso.break_glass_users.all()) or "none")
            + f"\n  redirect URI to register at the provider: {callback}"
        )

    @staticmethod
    def _secret(path: str) -> str:

        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        secret = text.strip()
        if not secret:
            raise CommandError(f"The client secret file {path} is empty.")
        return secret

    @staticmethod
    def _mapping(maps):
        if maps is None:
            return None
        mapping: dict[str, set[str]] = {}
        for item in maps:
            group, sep, role = item.rpartition("=")
            if not sep or not group.strip() or not role.strip():
                raise CommandError(f"--map takes GROUP=ROLE, not {item!r}.")
            mapping.setdefault(group.strip(), set()).add(role.strip())
        return mapping

    @staticmethod
    def _users(usernames):
        if usernames is None:
            return None
        User = get_user_model()
        users = list(User.objects.filter(username__in=usernames))
        missing = set(usernames) - {user.get_username() for user in users}
        if missing:
            raise CommandError(f"No user named {', '.join(sorted(missing))}.")
        return users
