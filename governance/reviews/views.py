"""The review pages: the queue of what waits for me, and one task with its evidence."""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance.reviews import selectors, services
from governance.reviews.forms import DecisionForm, StageFormSet, WorkflowForm
from governance.reviews.models import Notification, ReviewDecision, ReviewTask, Workflow
from governance.reviews.registry import Preview, reviewable_type
from governance.reviews.wording import stage_words, workflow_diff
from imprimatur.errors import AlreadyDecided, InvalidTransition
from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import Action


@login_required
def queue(request):
    tasks = selectors.task_list(user=request.user).exclude(review__requested_by=request.user)
    # The filter's projects: those I may see. Finding only the projects with a task
    # waiting would read every open task (bench/pages.py).
    projects = BrandProject.objects.restrict(request.user, Action.VIEW).order_by("name")
    project = request.GET.get("project", "")
    if project:
        tasks = tasks.filter(review__project__slug=project)
    # The page reads none of the reviews' and projects' JSON: not decoded 200 times over.
    tasks = list(
        tasks.defer(
            "review__stages",
            "review__reasons",
            "review__project__palette",
            "review__project__on_brand_descriptors",
            "review__project__off_brand_descriptors",
            "review__project__brand_thresholds",
        )[:200]
    )
    # One query for what I already decided (a stage needing several approvals); the other
    # rules are checked when the decision is made, and bulk approval reports them.
    decided = set(
        ReviewDecision.objects.filter(user=request.user, task__in=tasks).values_list(
            "task_id", flat=True
        )
    )
    previews = task_previews(tasks, request.user)
    for task in tasks:
        task.overdue = selectors.is_overdue(task)
        task.preview = previews.get(task.pk)
        # Bulk approval takes only what the page shows: a task whose preview is not on it
        # (an image the reviewer may not see, a kind without previews) is opened to decide.
        task.may_decide = task.pk not in decided
        task.may_bulk = task.may_decide and task.preview is not None
        # Computed once here: the template's truncatechars and url tags cost a lot per row
        # on a page of 200 tasks (bench/pages.py).
        task.url = reverse("reviews:task", args=[task.pk])
        task.short_title = _shorten(task.review.title, 80)
    workflow_projects = selectors.workflow_projects(user=request.user)
    return render(
        request,
        "reviews/queue.html",
        {
            "tasks": tasks,
            "shown": shown_token(request.user, [task.pk for task in tasks if task.may_bulk]),
            "projects": projects,
            "project": project,
            "workflow_projects": workflow_projects,
        },
    )


@login_required
@require_POST
def bulk_approve(request):
    """Approve the selected tasks with one comment; each is decided on its own (locks, rules),
    and what could not be approved is listed with the reason."""
    ids = [int(pk) for pk in request.POST.getlist("task") if pk.isdigit()]
    comment = request.POST.get("comment", "").strip()
    # Only tasks whose preview the reviewer's queue page showed them (the page signs their
    # ids); any other is refused unread, so nobody approves an image they never saw.
    shown = shown_ids(request.user, request.POST.get("shown", ""))
    unseen = [pk for pk in ids if pk not in shown]
    result = services.tasks_bulk_approve(
        user=request.user, task_ids=[pk for pk in ids if pk in shown], comment=comment
    )
    approved = len(result.approved)
    refused = [f"#{pk}: {text}" for pk, text in result.refused.items()]
    refused += [f"#{pk}: {NOT_SHOWN}" for pk in unseen]
    if approved:
        messages.success(request, f"Approved {approved} task{'s' if approved != 1 else ''}.")
    if refused:
        messages.error(request, "Not approved: " + "; ".join(refused))
    if not ids:
        messages.error(request, "Select the tasks to approve first.")
    return redirect("reviews:queue")


NOT_SHOWN = "Not shown with its preview on your queue page: open it to decide."
SHOWN_SALT = "reviews.queue.shown"
SHOWN_MAX_AGE = 12 * 3600  # a queue page left open longer is loaded again before approving


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def task_previews(tasks: list[ReviewTask], user) -> dict[int, Preview]:
    """Each task's preview (``Preview``), one call per reviewable kind (no query per task)."""
    by_kind: dict[str, list[ReviewTask]] = {}
    for task in tasks:
        by_kind.setdefault(task.review.kind, []).append(task)
    found = {}
    for kind, kind_tasks in by_kind.items():
        try:
            previews = reviewable_type(kind).previews
        except LookupError:
            continue
        if previews is None:
            continue
        by_object = previews([task.review.object_id for task in kind_tasks], user)
        for task in kind_tasks:
            if task.review.object_id in by_object:
                found[task.pk] = by_object[task.review.object_id]
    return found


def shown_token(user, task_ids: list[int]) -> str:
    """The ids of the tasks a queue page showed with their previews, signed for this user."""
    return signing.dumps(sorted(task_ids), salt=f"{SHOWN_SALT}:{user.pk}", compress=True)


def shown_ids(user, token: str) -> set[int]:
    """The task ids of a ``shown_token`` of this user; none for a forged, old or other's one."""
    try:
        ids = signing.loads(token, salt=f"{SHOWN_SALT}:{user.pk}", max_age=SHOWN_MAX_AGE)
    except signing.BadSignature:
        return set()
    return {pk for pk in ids if isinstance(pk, int)} if isinstance(ids, list) else set()


def _evidence(request, task: ReviewTask) -> str:
    kind = reviewable_type(task.review.kind)
    target = task.review.target
    context = {"target": target, "review": task.review}
    if kind.evidence_context is not None:
        context.update(kind.evidence_context(target, request.user))
    return render_to_string(kind.evidence_template, context, request=request)


@login_required
def task_detail(request, pk: int):
    task = selectors.task_get(user=request.user, pk=pk)
    form = DecisionForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.task_decide(
                task=task,
                user=request.user,
                decision=form.cleaned_data["decision"],
                comment=form.cleaned_data["comment"],
                override_reason=form.cleaned_data["override_reason"],
            )
        except (AlreadyDecided, InvalidTransition) as error:
            form.add_error(None, str(error))
            status = 409
        except PermissionDenied as error:
            form.add_error(None, str(error))
            status = 403
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
            status = 400
        else:
            verb = {
                "approve": "approved",
                "reject": "rejected",
                "changes": "asked for changes to",
            }[form.cleaned_data["decision"]]
            messages.success(request, f"You {verb} “{task.review.title}”.")
            following = (
                selectors.task_list(user=request.user)
                .exclude(review__requested_by=request.user)
                .exclude(pk=task.pk)
                .first()
            )
            if following is not None:
                return redirect("reviews:task", pk=following.pk)
            return redirect("reviews:queue")
    elif request.method == "POST":
        status = 400
    task = selectors.task_get(user=request.user, pk=pk)
    may_decide, why_not = services.task_may_decide(task=task, user=request.user)
    kind = reviewable_type(task.review.kind)
    return render(
        request,
        "reviews/task.html",
        {
            "task": task,
            "review": task.review,
            "evidence": _evidence(request, task),
            "target_url": kind.url(task.review.target),
            "history": task.review.tasks.prefetch_related("decisions__user"),
            "form": form,
            "may_decide": may_decide,
            "is_admin": selectors.is_admin(
                user=request.user, organization_id=task.review.organization_id
            ),
            "why_not": why_not,
            "is_open": task.status == ReviewTask.Status.OPEN,
            "overdue": selectors.is_overdue(task),
        },
        status=status,
    )


# --- Workflows ------------------------------------------------------------------------------


@login_required
def workflow_edit(request, slug: str):
    """A project's review stages: admins save a new version; open reviews keep theirs."""
    project, can_edit = selectors.workflow_project_get(
        user=request.user, slug=slug, organization=request.GET.get("organization")
    )
    current = services.workflow_current(project=project)
    status = 200
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only admins change review workflows.")
        formset = StageFormSet(request.POST, prefix="stages")
        form = WorkflowForm(request.POST)
        if "add_stage" in request.POST:
            data = request.POST.copy()
            data["stages-TOTAL_FORMS"] = str(int(data.get("stages-TOTAL_FORMS", 0)) + 1)
            formset = StageFormSet(data, prefix="stages")
            formset.is_valid()
        elif formset.is_valid() and form.is_valid():
            stages = formset.stages()
            try:
                workflow = services.workflow_update(
                    project=project,
                    user=request.user,
                    stages=stages,
                    distinct_approvers=form.cleaned_data["distinct_approvers"],
                )
            except ValidationError as error:
                _place_stage_errors(error, formset, form)
                status = 400
            else:
                messages.success(
                    request,
                    f"Version {workflow.version} of the workflow is saved: new reviews follow "
                    "it; open reviews keep the version they started with.",
                )
                return redirect(
                    f"{reverse('reviews:workflow', args=[project.slug])}"
                    f"?organization={project.organization.slug}"
                )
        else:
            status = 400
    else:
        formset = StageFormSet(initial=current.stages, prefix="stages")
        form = WorkflowForm(initial={"distinct_approvers": current.distinct_approvers})
    versions = list(
        Workflow.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-version")[:200]
    )
    return render(
        request,
        "reviews/workflow.html",
        {
            "project": project,
            "current": current,
            "current_stages": [stage_words(stage) for stage in current.stages],
            "versions": [
                {"workflow": version, "stages": [stage_words(s) for s in version.stages]}
                for version in versions[:20]
            ],
            "comparison": _comparison(request, versions),
            "formset": formset,
            "form": form,
            "can_edit": can_edit,
        },
        status=status,
    )


def _comparison(request, versions: list[Workflow]) -> dict | None:
    """Two versions chosen on the page (``?from=&to=``; by default the one before the
    current and the current), and what changed between them; None with one version only."""
    if len(versions) < 2:
        return None
    by_number = {version.version: version for version in versions}

    def chosen(name: str, default: int) -> int:
        value = request.GET.get(name, "")
        return int(value) if value.isdigit() and int(value) in by_number else default

    older = chosen("from", versions[1].version)
    newer = chosen("to", versions[0].version)
    return {
        "numbers": [version.version for version in versions],
        "from": older,
        "to": newer,
        "diff": workflow_diff(by_number[older], by_number[newer]),
        "asked": "from" in request.GET or "to" in request.GET,
    }


def _place_stage_errors(error: ValidationError, formset, form) -> None:
    """``stages[2].role`` → the third kept row's role field (rows left empty or deleted are
    not stages, so the numbers are mapped back onto the forms)."""
    kept = [
        row
        for row in formset.forms
        if (row.cleaned_data.get("name") or "").strip()
        and not (formset.can_delete and formset._should_delete_form(row))
    ]
    for path, problems in error.message_dict.items():
        found = re.fullmatch(r"stages\[(\d+)\](?:\.(\w+))?", path)
        if found and int(found[1]) < len(kept):
            row, field = kept[int(found[1])], found[2]
            row.add_error(field if field in row.fields else None, problems)
        else:
            form.add_error(None, problems)


# --- Inbox ----------------------------------------------------------------------------------


@login_required
def inbox(request):
    if request.method == "POST":
        Notification.objects.filter(user=request.user, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        return redirect("reviews:inbox")
    items = selectors.inbox_list(user=request.user).select_related("review")[:100]
    return render(request, "reviews/inbox.html", {"items": items})


@login_required
def inbox_open(request, pk: int):
    """Open a notification: marked read, then on to what it is about."""
    item = Notification.objects.filter(user=request.user, pk=pk).first()
    if item is None:
        raise Http404("No such notification.")
    if item.read_at is None:
        item.read_at = timezone.now()
        item.save(update_fields=["read_at"])
    return redirect(item.url)
