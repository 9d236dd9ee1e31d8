"""The policy pages: list, draft editor with its test console, publishing, versions and
re-checks. They call the same services and selectors as the API (``api.py``)."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from governance.policies import editor, selectors, services
from governance.policies.display import highlight_matches
from governance.policies.documents import document_clean
from governance.policies.editor import place_in_words
from governance.policies.forms import PolicyCreateForm, PolicyDraftForm, PolicyTryForm, RecheckForm
from governance.policies.matching import Action, Category, Outcome
from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import Action as TenancyAction
from imprimatur.tenancy.permissions import user_may_anywhere

OUTCOME_WORDS = {
    Outcome.ALLOW: "Allowed: images would be generated from this prompt.",
    Outcome.REVIEW: (
        "Needs review: a reviewer must approve this prompt before anything is generated."
    ),
    Outcome.BLOCK: "Blocked: this prompt would be refused.",
}


def _governed(user, policy) -> None:
    """403 for members who may read the policy but not edit it."""
    if not selectors.policy_can_govern(user=user, organization=policy.organization):
        raise PermissionDenied(
            "Only admins and compliance officers of the organisation edit its policies."
        )


def errors_by_place(error: ValidationError, document) -> list[dict]:
    return [
        {"path": path, "place": place_in_words(path, document), "messages": texts}
        for path, texts in error.message_dict.items()
    ]


def _latest_and_unpublished(policy):
    latest = selectors.policy_version_latest(policy=policy)
    return latest, latest is None or latest.content != policy.draft


def _document_reference() -> dict:
    return {
        "categories": [c.value for c in Category],
        "actions": [a.value for a in Action],
        "outcomes": [o.value for o in Outcome],
    }


def _detail_page(request, policy, *, status=200, **context):
    latest, unpublished = _latest_and_unpublished(policy)
    can_govern = selectors.policy_can_govern(user=request.user, organization=policy.organization)
    context.setdefault(
        "form",
        PolicyDraftForm(
            initial={
                "name": policy.name,
                "draft": json.dumps(policy.draft, indent=2, ensure_ascii=False),
            }
        ),
    )
    context.setdefault("try_form", PolicyTryForm())
    return render(
        request,
        "policies/detail.html",
        {
            "policy": policy,
            "latest": latest,
            "unpublished": unpublished,
            "can_govern": can_govern,
            "draft_json": json.dumps(policy.draft, indent=2, ensure_ascii=False),
            "reference": _document_reference(),
            # What the policy does, in a table: the published version's, else the draft's.
            "shown": latest.content if latest else policy.draft,
            **context,
        },
        status=status,
    )


@login_required
def policy_list(request):
    policies = list(selectors.policy_list(user=request.user))
    for policy in policies:
        policy.latest, policy.unpublished = _latest_and_unpublished(policy)
    can_create = user_may_anywhere(request.user, TenancyAction.GOVERN)
    return render(request, "policies/list.html", {"policies": policies, "can_create": can_create})


@login_required
def policy_new(request):
    organizations = Organization.objects.restrict(request.user, TenancyAction.GOVERN)
    if not organizations.exists():
        raise PermissionDenied("Only admins and compliance officers create policies.")
    projects = BrandProject.objects.filter(organization__in=organizations).select_related(
        "organization"
    )
    form = PolicyCreateForm(request.POST or None, organizations=organizations, projects=projects)
    if request.method == "POST" and form.is_valid():
        kind, pk = form.cleaned_data["target"].split(":")
        if kind == "project":
            project = projects.get(pk=pk)
            organization = project.organization
        else:
            project, organization = None, organizations.get(pk=pk)
        try:
            policy = services.policy_create(
                organization=organization,
                project=project,
                user=request.user,
                name=form.cleaned_data["name"],
            )
        except ValidationError as error:
            for texts in error.message_dict.values():
                for text in texts:
                    form.add_error(None, text)
        else:
            messages.success(
                request, "The policy was created. Write its draft, test it, publish it."
            )
            return redirect("policies:detail", pk=policy.pk)
    return render(request, "policies/new.html", {"form": form})


@login_required
def policy_detail(request, pk: int):
    policy = selectors.policy_get(user=request.user, pk=pk)
    if request.method != "POST":
        return _detail_page(request, policy)
    _governed(request.user, policy)
    form = PolicyDraftForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, policy, form=form, status=400)
    try:
        services.policy_draft_update(
            policy=policy,
            user=request.user,
            draft=form.cleaned_data["draft"],
            name=form.cleaned_data["name"],
        )
    except ValidationError as error:
        draft_errors = errors_by_place(error, form.cleaned_data["draft"])
        return _detail_page(request, policy, form=form, draft_errors=draft_errors, status=400)
    messages.success(request, "The draft was saved. Publish it when its examples pass.")
    return redirect("policies:detail", pk=policy.pk)


#: The buttons that add an empty row to a list of the editor, by formset prefix.
ADD_ROW_BUTTONS = {"add_rule": "rules", "add_concept": "concepts", "add_example": "examples"}
#: What a row added by such a button starts with (the fields' initial values).
NEW_ROW_DEFAULTS = {
    "rules": {"kind": "terms", "category": "custom", "action": "block"},
    "concepts": {"action": "flag"},
    "examples": {"expected": "block"},
}


def _with_new_row(data, prefix: str):
    """The posted data with one more (empty) row in the formset ``prefix``, or None when the
    management data is broken."""
    data = data.copy()
    try:
        total = int(data[f"{prefix}-TOTAL_FORMS"])
    except (KeyError, ValueError):
        return None
    data[f"{prefix}-TOTAL_FORMS"] = str(total + 1)
    for field, value in NEW_ROW_DEFAULTS[prefix].items():
        data[f"{prefix}-{total}-{field}"] = value
    return data


def _editor_page(request, policy, forms, *, status=200, problems=(), **context):
    return render(
        request,
        "policies/edit.html",
        {
            "policy": policy,
            "forms": forms,
            "quota_scope": "project" if policy.project_id else "organization",
            "not_saved": status == 400,
            "error_summary": editor.error_summary(forms, problems) if status == 400 else [],
            **context,
        },
        status=status,
    )


@login_required
def policy_edit(request, pk: int):
    """The structured draft editor: rules, texts, output concepts, limits and examples as
    forms, for those who do not write JSON. Saving goes through ``policy_draft_update``."""
    policy = selectors.policy_get(user=request.user, pk=pk)
    _governed(request.user, policy)
    if request.method != "POST":
        initial = editor.document_to_initial(policy.draft)
        return _editor_page(request, policy, editor.editor_forms(initial=initial, name=policy.name))
    added = next(
        (prefix for button, prefix in ADD_ROW_BUTTONS.items() if button in request.POST), None
    )
    if added:
        data = _with_new_row(request.POST, added)
        if data is not None:
            forms = editor.editor_forms(data)
            new_row = getattr(forms, added).forms[-1]
            first_field = next(iter(new_row.fields))
            new_row.fields[first_field].widget.attrs["autofocus"] = True
            return _editor_page(request, policy, forms)
    forms = editor.editor_forms(request.POST)
    forms_valid = forms.is_valid()
    document = editor.forms_to_document(forms)
    # What the forms do not edit (the safety classes) is kept as the draft has it.
    for key in editor.NOT_EDITED_HERE:
        if key in policy.draft:
            document[key] = policy.draft[key]
    # A term rule's inflection settings (JSON only) stay with a rule of the same id.
    saved = {rule["id"]: rule for rule in policy.draft.get("rules", [])}
    for rule in document.get("rules", []):
        for key in ("inflect", "language"):
            if "terms" in rule and key in saved.get(rule.get("id"), {}):
                rule.setdefault(key, saved[rule["id"]][key])
    positions = editor.form_positions(forms)
    if forms_valid:
        try:
            services.policy_draft_update(
                policy=policy,
                user=request.user,
                draft=document,
                name=forms.main.cleaned_data["name"],
            )
        except ValidationError as error:
            problems = editor.place_errors(
                error, forms=forms, document=document, positions=positions
            )
            return _editor_page(request, policy, forms, problems=problems, status=400)
        messages.success(request, "The draft was saved. Publish it when its examples pass.")
        return redirect("policies:detail", pk=policy.pk)
    # Some fields could not be read (a word in a number field): report those, and what the
    # rest of the document would get, so that everything can be fixed in one go.
    problems = []
    try:
        document_clean(document)
    except ValidationError as error:
        problems = editor.place_errors(error, forms=forms, document=document, positions=positions)
    return _editor_page(request, policy, forms, problems=problems, status=400)


@login_required
@require_POST
def policy_try(request, pk: int):
    """The test console: judge a prompt by the draft. A fragment for htmx, else the page."""
    policy = selectors.policy_get(user=request.user, pk=pk)
    form = PolicyTryForm(request.POST)
    context = {"try_form": form}
    if form.is_valid():
        prompt = form.cleaned_data["prompt"]
        try:
            decision = services.policy_dry_run(
                policy=policy, prompt=prompt, negative_prompt=form.cleaned_data["negative_prompt"]
            )
        except ValidationError as error:
            for texts in error.message_dict.values():
                for text in texts:
                    form.add_error("prompt", text)
        else:
            context["result"] = {
                "decision": decision,
                "outcome_words": OUTCOME_WORDS[decision.outcome],
                "highlighted": highlight_matches(prompt, decision.matches),
                "limits": decision.limits.as_dict(),
            }
    if request.headers.get("HX-Request"):
        return render(request, "policies/_try_result.html", {"policy": policy, **context})
    return _detail_page(request, policy, **context)


@login_required
@require_POST
def policy_publish(request, pk: int):
    policy = selectors.policy_get(user=request.user, pk=pk)
    _governed(request.user, policy)
    try:
        version = services.policy_publish(policy=policy, user=request.user)
    except ValidationError as error:
        publish_errors = [text for texts in error.message_dict.values() for text in texts]
        return _detail_page(request, policy, publish_errors=publish_errors, status=400)
    messages.success(
        request, f"Version {version.number} is published: new requests are judged by it."
    )
    return redirect("policies:version", pk=policy.pk, number=version.number)


@login_required
def version_list(request, pk: int):
    policy = selectors.policy_get(user=request.user, pk=pk)
    versions = selectors.policy_version_list(policy=policy).order_by("-number")
    return render(request, "policies/versions.html", {"policy": policy, "versions": versions})


def _rules_by_id(document: dict) -> dict:
    return {rule["id"]: rule for rule in document.get("rules", [])}


@login_required
def version_detail(request, pk: int, number: int):
    policy = selectors.policy_get(user=request.user, pk=pk)
    version = selectors.policy_version_get(policy=policy, number=number)
    previous = (
        selectors.policy_version_get(policy=policy, number=number - 1) if number > 1 else None
    )
    diff = version.diff
    after = _rules_by_id(version.content)
    before = _rules_by_id(previous.content) if previous else {}
    return render(
        request,
        "policies/version.html",
        {
            "policy": policy,
            "version": version,
            "diff": diff,
            "added_rules": [
                after[rule_id] for rule_id in diff["rules"]["added"] if rule_id in after
            ],
            "removed_rules": [
                before.get(rule_id, {"id": rule_id}) for rule_id in diff["rules"]["removed"]
            ],
            "content_json": json.dumps(version.content, indent=2, ensure_ascii=False),
        },
    )


@login_required
def policy_recheck(request, pk: int):
    policy = selectors.policy_get(user=request.user, pk=pk)
    _governed(request.user, policy)
    form = RecheckForm(request.POST or None)
    context = {"policy": policy, "form": form}
    if request.method == "POST" and form.is_valid():
        report = services.policy_recheck(policy=policy, days=form.cleaned_data["days"])
        items = report.newly_blocked + report.newly_allowed + report.changed
        projects = dict(
            BrandProject.objects.filter(pk__in={item.project_id for item in items}).values_list(
                "pk", "name"
            )
        )
        context["report"] = report
        context["sections"] = [
            ("Newly blocked", "blocked", report.newly_blocked),
            ("Newly allowed", "allowed", report.newly_allowed),
            ("Changed to or from review", "changed", report.changed),
        ]
        context["projects"] = projects
    return render(request, "policies/recheck.html", context)
