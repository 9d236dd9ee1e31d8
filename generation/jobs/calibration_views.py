"""The calibration page: each check score's spread over a project's recent images, by
reviewers' decisions, with the threshold in force marked; admins set a brand threshold on it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from generation.jobs import selectors
from generation.jobs.calibration import (
    BRAND_KIT_THRESHOLDS,
    current_threshold,
    score_distributions,
)
from generation.jobs.set_measures import approved_cmmd
from imprimatur.tenancy.permissions import Action, user_may
from imprimatur.tenancy.selectors import project_get
from imprimatur.tenancy.services import brand_threshold_set


@login_required
def calibration(request, slug: str):
    """How each check score is spread over the project's recent images, with reviewers'
    decisions and the threshold in force marked: for admins and compliance officers. An
    admin sets a brand threshold here (POST): a new version of the brand kit, audited."""
    project = project_get(
        user=request.user, slug=slug, organization=request.GET.get("organization")
    )
    if not selectors.may_see_quarantined(
        user=request.user, organization_id=project.organization_id
    ):
        raise PermissionDenied("Only compliance officers and admins see the calibration page.")
    may_set = user_may(request.user, Action.MANAGE, project)
    errors, status = {}, 200
    if request.method == "POST":
        if not may_set:
            raise PermissionDenied("Only admins of the project's organisation set thresholds.")
        key = request.POST.get("score", "")
        try:
            value = float(request.POST.get("threshold", ""))
        except ValueError:
            value = None
        if key not in BRAND_KIT_THRESHOLDS:
            raise Http404("No brand threshold of that name.")
        if value is None or not 0 <= value <= 1:
            errors[key], status = "Give a threshold from 0 to 1, e.g. 0.45.", 400
        else:
            brand_threshold_set(
                project=project,
                user=request.user,
                name=BRAND_KIT_THRESHOLDS[key],
                value=round(value, 4),
                via="calibration",
            )
            messages.success(
                request,
                f"The threshold is now {value:g}: a new version of the brand kit, recorded in "
                "the audit log. New checks use it; earlier results keep theirs.",
            )
            url = reverse("jobs:calibration", args=[project.slug])
            return redirect(f"{url}?organization={project.organization.slug}#dist-{key}")
    distributions, assets = score_distributions(project=project)
    items = []
    for item in distributions:
        threshold = current_threshold(item, project)
        items.append(
            {
                "d": item,
                "bins": item.bins(threshold),
                "summary": item.summary(),
                "threshold": threshold,
                "effect": item.effect(threshold),
                "kit_threshold": item.key in BRAND_KIT_THRESHOLDS,
                "settable": may_set and item.key in BRAND_KIT_THRESHOLDS,
                "error": errors.get(item.key, ""),
            }
        )
    return render(
        request,
        "jobs/calibration.html",
        {
            "project": project,
            "assets": assets,
            "distributions": items,
            "may_set": may_set,
            "set_measure": approved_cmmd(project),
        },
        status=status,
    )
