"""The review pages: the queue of what waits for me, and one task with its evidence."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.template.loader import render_to_string

from governance.reviews import selectors, services
from governance.reviews.forms import DecisionForm
from governance.reviews.models import ReviewTask
from governance.reviews.registry import reviewable_type
from imprimatur.errors import AlreadyDecided
from imprimatur.tenancy.models import BrandProject, Membership, Role


@login_required
def queue(request):
    tasks = selectors.task_list(user=request.user).exclude(review__requested_by=request.user)
    projects = BrandProject.objects.filter(pk__in=tasks.values("review__project")).order_by("name")
    project = request.GET.get("project", "")
    if project:
        tasks = tasks.filter(review__project__slug=project)
    tasks = list(tasks[:200])
    for task in tasks:
        task.overdue = selectors.is_overdue(task)
    return render(
        request,
        "reviews/queue.html",
        {"tasks": tasks, "projects": projects, "project": project},
    )


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
        except AlreadyDecided as error:
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
            verb = "approved" if form.cleaned_data["decision"] == "approve" else "rejected"
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
            "is_admin": Membership.objects.filter(
                user=request.user, organization_id=task.review.organization_id, role=Role.ADMIN
            ).exists(),
            "why_not": why_not,
            "is_open": task.status == ReviewTask.Status.OPEN,
            "overdue": selectors.is_overdue(task),
        },
        status=status,
    )
