"""Prompt-policy quotas: how many images a user or project may ask for per day or month,
counted from the requests the generating app reports, and the refusal of a request over one.

Governance never imports generation: the app whose requests make images registers how it
counts them (``register_usage_source``) when it starts. ``decision`` below is the
``PolicyDecision`` of the request (its ``limits.quotas`` are what count).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.translation import ngettext

from governance.policies.limits import Quota
from imprimatur.errors import PolicyRefused
from imprimatur.tenancy.models import BrandProject

#: How quotas learn how many images were asked for (see the module's docstring).
UsageSource = Callable[..., int]
_usage_sources: list[UsageSource] = []


def register_usage_source(source: UsageSource) -> None:
    """Register ``source(*, organization_id, project_id, user_id, since)``: the number of
    images that requests made since ``since`` asked for, counting only those of the project
    and of the user that are given (None: any), failed, cancelled and rejected requests
    left out."""
    if source not in _usage_sources:
        _usage_sources.append(source)


def quota_period(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The start and end of the current day or month, in the server's time zone."""
    local = timezone.localtime(now or timezone.now())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        end = start + timedelta(days=1)
    else:
        start = start.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    # Wall-clock arithmetic: with zoneinfo the offset follows the date, so a day that
    # changes to or from daylight-saving time still ends at local midnight.
    return start, end


@dataclass(frozen=True)
class QuotaUse:
    """How much of one quota is used, and when it renews."""

    quota: Quota
    used: int
    renews_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.quota.limit - self.used)

    def as_dict(self) -> dict:
        return {
            "quota": self.quota.key,
            "counted_in": "project" if self.quota.within_project else "organization",
            "limit": self.quota.limit,
            "used": self.used,
            "remaining": self.remaining,
            "renews_at": self.renews_at.isoformat(),
        }


def policy_quota_usage(
    *, decision, project: BrandProject, user, now: datetime | None = None
) -> list[QuotaUse]:
    """The use of every quota that the decision's policies set, for this user and project."""
    uses = []
    for quota in decision.limits.quotas:
        since, renews_at = quota_period(quota.period, now)
        counted_project = (
            project.pk if (quota.within_project or quota.subject == "project") else None
        )
        used = sum(
            source(
                organization_id=project.organization_id,
                project_id=counted_project,
                user_id=user.pk if quota.subject == "user" else None,
                since=since,
            )
            for source in _usage_sources
        )
        uses.append(QuotaUse(quota, used, renews_at))
    return uses


def _quota_message(use: QuotaUse, images: int) -> str:
    renews = timezone.localtime(use.renews_at).strftime("%d %b %Y, %H:%M %Z")
    what = use.quota.describe()
    if use.remaining == 0:
        return f"The prompt policy's limit is reached: {what} is spent. It renews on {renews}."
    left = "1 image is" if use.remaining == 1 else f"{use.remaining} images are"
    return (
        f"This request asks for {ngettext('%d image', '%d images', images) % images}, but "
        f"only {left} left of {what}. "
        f"Ask for fewer, or wait until {renews}."
    )


def policy_quota_check(*, decision, project: BrandProject, user, images: int) -> list[QuotaUse]:
    """Refuse (``PolicyRefused``) a request for ``images`` images that would go over a quota;
    otherwise return the quotas' use before it.

    Call it inside the transaction that writes the request, after taking a lock that
    serialises the organisation's submissions, so two requests cannot both take the last
    images (generation locks the organisation row).
    """
    uses = policy_quota_usage(decision=decision, project=project, user=user)
    spent = [use for use in uses if use.used + images > use.quota.limit]
    if spent:
        raise PolicyRefused(
            {"quota": [_quota_message(use, images) for use in spent]},
            data={"quotas": [use.as_dict() for use in uses]},
        )
    return uses
