"""Writes for prompt policies (create, edit the draft, publish) and their evaluation (quotas:
``quotas.py``).

A project is judged by two layers: the latest published version of its organisation's
policy and the latest published version of its own policy (its additions). A prompt's
outcome is decided by the matches of both; the required negative-prompt additions of both
are appended to the negative prompt.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance.policies import events, selectors
from governance.policies.diffs import document_output_concepts
from governance.policies.documents import (
    document_clean,
    document_diff,
    document_rules,
    document_sha256,
    empty_document,
)
from governance.policies.limits import EffectiveLimits, limits_check, limits_combine
from governance.policies.matching import (
    MAX_PROMPT_CHARS,
    Action,
    CompiledPolicy,
    Match,
    Outcome,
    outcome_for,
    prompt_length_error,
)
from governance.policies.models import Policy, PolicyVersion
from governance.policies.packs import packs_latest
from imprimatur.tenancy.models import BrandProject, Organization

# --- Compiled policies, cached per process --------------------------------------------------

COMPILED_CACHE_SIZE = 256
_compiled: OrderedDict[object, CompiledPolicy] = OrderedDict()
_compiled_lock = threading.Lock()


def _compiled_for(key: object, document: dict) -> CompiledPolicy:
    """The compiled rules of a document, compiled once per key (LRU)."""
    with _compiled_lock:
        found = _compiled.get(key)
        if found is not None:
            _compiled.move_to_end(key)
            return found
    compiled = CompiledPolicy.from_rules(document_rules(document))
    with _compiled_lock:
        _compiled[key] = compiled
        while len(_compiled) > COMPILED_CACHE_SIZE:
            _compiled.popitem(last=False)
    return compiled


def compiled_version(version: PolicyVersion) -> CompiledPolicy:
    # The hash too: an id can come back after a rolled-back transaction (and in tests).
    return _compiled_for(("version", version.pk, version.content_sha256), version.content)


def _compiled_draft(document: dict) -> CompiledPolicy:
    # Drafts change: keyed by content, so the test console recompiles only after an edit.
    return _compiled_for(("draft", document_sha256(document)), document)


# --- Evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyDecision:
    """What the policies say about one prompt, and the versions that said it."""

    outcome: Outcome
    matches: tuple[Match, ...]
    negative_prompt: str
    organization_version_id: int | None = None
    project_version_id: int | None = None
    negative_additions: tuple[str, ...] = field(default=())
    limits: EffectiveLimits = field(default_factory=EffectiveLimits)
    #: Request parameters that break the policy's limits: field -> reasons.
    limit_errors: dict = field(default_factory=dict)
    #: What the image checks look for in the images (objects: concept, action, threshold).
    output_concepts: tuple[dict, ...] = field(default=())
    #: How the image checks treat NudeNet classes: class -> {threshold, action}.
    safety_classes: dict = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        """Whether a request may go ahead now: allowed prompt, parameters within limits."""
        return self.outcome == Outcome.ALLOW and not self.limit_errors

    @property
    def version_ids(self) -> tuple[int, ...]:
        return tuple(
            pk for pk in (self.organization_version_id, self.project_version_id) if pk is not None
        )

    @property
    def warnings(self) -> tuple[Match, ...]:
        """Matches of warn rules: shown to the creator, they do not stop the request."""
        return tuple(match for match in self.matches if match.action == Action.WARN)


@dataclass(frozen=True)
class _Layer:
    compiled: CompiledPolicy
    document: dict
    is_project: bool = False


def _check_prompt_length(prompt: str) -> None:
    if error := prompt_length_error(prompt):
        raise ValidationError({"prompt": error})


def with_negative_additions(negative_prompt: str, additions) -> tuple[str, tuple[str, ...]]:
    """The negative prompt with each addition it lacks appended (comma-separated), and the
    additions that were appended."""
    present = {part.strip().casefold() for part in negative_prompt.split(",") if part.strip()}
    appended = []
    for addition in additions:
        if addition.casefold() not in present:
            present.add(addition.casefold())
            appended.append(addition)
    parts = [negative_prompt.strip().rstrip(",").strip(), *appended]
    return ", ".join(part for part in parts if part), tuple(appended)


def _matches(layers: list[_Layer], prompt: str) -> tuple[Match, ...]:
    found = [match for layer in layers for match in layer.compiled.match(prompt)]
    return tuple(sorted(found, key=lambda m: (m.start, m.end, m.rule_id, m.term)))


def _decide(
    layers: list[_Layer],
    prompt: str,
    negative_prompt: str,
    organization_version: PolicyVersion | None,
    project_version: PolicyVersion | None,
    params: dict | None = None,
) -> PolicyDecision:
    _check_prompt_length(prompt)
    matches = _matches(layers, prompt)
    additions = [text for layer in layers for text in layer.document["negative_additions"]]
    rewritten, appended = with_negative_additions(negative_prompt, additions)
    limits = limits_combine(
        [(layer.document.get("limits", {}), layer.is_project) for layer in layers]
    )
    concepts: dict[str, dict] = {}
    safety: dict[str, dict] = {}
    for layer in layers:  # a project's setting overrides the organisation's
        concepts.update({c["concept"]: c for c in document_output_concepts(layer.document)})
        for name, rule in layer.document.get("safety_classes", {}).items():
            safety[name] = {**safety.get(name, {}), **rule}
    return PolicyDecision(
        limits=limits,
        limit_errors=limits_check(limits, params or {}),
        output_concepts=tuple(concepts.values()),
        safety_classes=safety,
        outcome=outcome_for(matches),
        matches=matches,
        negative_prompt=rewritten,
        organization_version_id=organization_version.pk if organization_version else None,
        project_version_id=project_version.pk if project_version else None,
        negative_additions=appended,
    )


def _version_layer(version: PolicyVersion | None, *, is_project: bool = False) -> list[_Layer]:
    if version is None:
        return []
    return [_Layer(compiled_version(version), version.content, is_project)]


def project_limits(*, project: BrandProject) -> EffectiveLimits:
    """The limits of the project's published policies (organisation + project) together:
    what the request form shows as each model's effective maximum."""
    organization_version = selectors.organization_version_latest(
        organization_id=project.organization_id
    )
    project_version = selectors.project_version_latest(project=project)
    return limits_combine(
        [
            (version.content.get("limits", {}), is_project)
            for version, is_project in ((organization_version, False), (project_version, True))
            if version is not None
        ]
    )


def policy_evaluate(
    *, project: BrandProject, prompt: str, negative_prompt: str = "", params: dict | None = None
) -> PolicyDecision:
    """Judge a prompt, and the request parameters in ``params`` (see
    ``limits.limits_check``), by the project's published policies (organisation + project).

    With no published version the outcome is allow and nothing is limited. Quotas are not
    counted here (see ``policy_quota_check``): they need the request's transaction.
    """
    _check_prompt_length(prompt)
    organization_version = selectors.organization_version_latest(
        organization_id=project.organization_id
    )
    project_version = selectors.project_version_latest(project=project)
    layers = _version_layer(organization_version) + _version_layer(project_version, is_project=True)
    return _decide(layers, prompt, negative_prompt, organization_version, project_version, params)


def _draft_layers(policy: Policy, document: dict) -> tuple[list[_Layer], PolicyVersion | None]:
    """A draft's layers as it would apply: a project draft on top of the published
    organisation version."""
    organization_version = None
    if policy.project_id:
        organization_version = selectors.organization_version_latest(
            organization_id=policy.organization_id
        )
    layers = _version_layer(organization_version)
    layers.append(_Layer(_compiled_draft(document), document, bool(policy.project_id)))
    return layers, organization_version


def policy_dry_run(
    *, policy: Policy, prompt: str, negative_prompt: str = "", params: dict | None = None
) -> PolicyDecision:
    """Judge a prompt by the policy's current draft (the test console); writes nothing."""
    _check_prompt_length(prompt)
    layers, organization_version = _draft_layers(policy, policy.draft)
    return _decide(layers, prompt, negative_prompt, organization_version, None, params)


# --- Writes ----------------------------------------------------------------------------------


def _ensure_governs(user, organization: Organization) -> None:
    if not selectors.policy_can_govern(user=user, organization=organization):
        raise PermissionDenied(
            "Only admins and compliance officers of the organisation edit its policies."
        )


@transaction.atomic
def policy_create(
    *,
    organization: Organization,
    user,
    project: BrandProject | None = None,
    name: str = "",
    draft: dict | None = None,
) -> Policy:
    """The organisation policy (no project) or a project's policy, with an unpublished draft."""
    _ensure_governs(user, organization)
    policy = Policy(
        organization=organization,
        project=project,
        name=name,
        draft=empty_document() if draft is None else draft,
    )
    policy.full_clean()
    policy.save()
    events.policy_created(policy=policy, actor=user, draft_sha256=document_sha256(policy.draft))
    return policy


@transaction.atomic
def policy_draft_update(
    *, policy: Policy, user, draft: dict | None = None, name: str | None = None
) -> Policy:
    """Replace the draft (validated strictly) and/or rename the policy."""
    policy = (
        Policy.objects.select_for_update(of=("self",)).select_related("project").get(pk=policy.pk)
    )
    _ensure_governs(user, policy.organization)
    if draft is not None:
        policy.draft = draft
    if name is not None:
        policy.name = name
    policy.full_clean()
    policy.save()
    events.policy_draft_updated(
        policy=policy, actor=user, draft_sha256=document_sha256(policy.draft), name=name
    )
    return policy


#: A policy's outcome in words, as an example's expectation reads it.
OUTCOME_WORDS = {"allow": "allowed", "review": "sent to review", "block": "blocked"}


def _example_failures(policy: Policy, document: dict) -> list[str]:
    """Every example that does not get its expected outcome, as a readable line."""
    layers, _organization_version = _draft_layers(policy, document)
    failures = []
    for index, example in enumerate(document["examples"]):
        matches = _matches(layers, example["prompt"])
        outcome = outcome_for(matches)
        if outcome != example["expected"]:
            prompt = example["prompt"]
            shown = prompt if len(prompt) <= 80 else prompt[:77] + "…"
            rules = ", ".join(sorted({m.rule_id for m in matches})) or "no rule"
            failures.append(
                f"Example {index + 1} “{shown}”: should be {OUTCOME_WORDS[example['expected']]}, "
                f"but is {OUTCOME_WORDS[outcome]} ({rules} matched)."
            )
    return failures


@transaction.atomic
def policy_publish(*, policy: Policy, user) -> PolicyVersion:
    """Freeze the draft as the next version, if every example gets its expected outcome."""
    policy = (
        Policy.objects.select_for_update(of=("self",)).select_related("project").get(pk=policy.pk)
    )
    _ensure_governs(user, policy.organization)
    content = document_clean(policy.draft)
    latest = selectors.policy_version_latest(policy=policy)
    content_sha256 = document_sha256(content)
    if latest is not None and latest.content_sha256 == content_sha256:
        raise ValidationError(
            {"draft": f"The draft is the same as version {latest.number}: nothing to publish."}
        )
    failures = _example_failures(policy, content)
    if failures:
        raise ValidationError({"examples": failures})
    version = PolicyVersion.objects.create(
        policy=policy,
        number=latest.number + 1 if latest else 1,
        content=content,
        content_sha256=content_sha256,
        diff=document_diff(latest.content if latest else empty_document(), content),
        published_by=user,
    )
    events.policy_version_published(version=version, actor=user)
    return version


# --- Baseline packs -------------------------------------------------------------------------


def _locked(policy: Policy, user) -> Policy:
    policy = (
        Policy.objects.select_for_update(of=("self",)).select_related("project").get(pk=policy.pk)
    )
    _ensure_governs(user, policy.organization)
    return policy


@transaction.atomic
def policy_pack_adopt(*, policy: Policy, user, pack: str, version: int, action: str) -> Policy:
    """Adopt a pack version in the policy's draft (or change the adopted version or action).
    It applies once the draft is published; the version then records the pack version."""
    policy = _locked(policy, user)
    adopted = list(policy.draft.get("packs", []))
    previous = next((entry for entry in adopted if entry.get("pack") == pack), None)
    adopted = [entry for entry in adopted if entry.get("pack") != pack]
    adopted.append({"pack": pack, "version": version, "action": action})
    policy.draft = {**policy.draft, "packs": sorted(adopted, key=lambda e: str(e.get("pack")))}
    policy.full_clean()
    policy.save()
    events.policy_pack_adopted(
        policy=policy, actor=user, pack=pack, version=version, action=action, previous=previous
    )
    return policy


@transaction.atomic
def policy_pack_drop(*, policy: Policy, user, pack: str) -> Policy:
    """Remove an adopted pack from the policy's draft."""
    policy = _locked(policy, user)
    adopted = list(policy.draft.get("packs", []))
    previous = next((entry for entry in adopted if entry.get("pack") == pack), None)
    if previous is None:
        raise ValidationError({"pack": f"The draft does not adopt the pack {pack!r}."})
    policy.draft = {**policy.draft, "packs": [e for e in adopted if e is not previous]}
    policy.full_clean()
    policy.save()
    events.policy_pack_dropped(policy=policy, actor=user, pack=pack, previous=previous)
    return policy


@transaction.atomic
def policy_baseline_adopt(*, organization: Organization, user) -> PolicyVersion | None:
    """Give an organisation without a published policy one: the latest version of every
    baseline pack with its default action, published. None when it already has one."""
    if selectors.organization_version_latest(organization_id=organization.pk) is not None:
        return None
    policy = Policy.objects.filter(organization=organization, project__isnull=True).first()
    if policy is None:
        policy = policy_create(organization=organization, user=user, name="Baseline policy")
    for pack in packs_latest():
        policy = policy_pack_adopt(
            policy=policy,
            user=user,
            pack=pack["pack"],
            version=pack["version"],
            action=pack["default_action"],
        )
    return policy_publish(policy=policy, user=user)


# --- Recheck: the draft against recent requests ---------------------------------------------

RECHECK_MAX_REQUESTS = 5000


@dataclass(frozen=True)
class RecheckItem:
    request_id: int
    project_id: int
    prompt: str
    before: Outcome
    after: Outcome


@dataclass
class RecheckReport:
    """How the draft would have judged recent requests, compared with the published
    policies. ``changed`` holds the other outcome changes (to or from review)."""

    days: int
    checked: int = 0
    truncated: bool = False
    newly_blocked: list[RecheckItem] = field(default_factory=list)
    newly_allowed: list[RecheckItem] = field(default_factory=list)
    changed: list[RecheckItem] = field(default_factory=list)


#: Where re-checks find past prompts. Governance never imports generation (DESIGN.md): the
#: apps whose requests carry prompts register a source here when they start.
PromptSource = Callable[[int, int | None, datetime, int], Iterable[tuple[int, int, str]]]
_prompt_sources: list[PromptSource] = []


def register_prompt_source(source: PromptSource) -> None:
    """Register ``source(organization_id, project_id_or_None, since, limit)``, which returns up
    to ``limit`` (request id, project id, prompt) rows created since ``since``, newest first."""
    if source not in _prompt_sources:
        _prompt_sources.append(source)


def policy_recheck(
    *, policy: Policy, days: int = 30, limit: int = RECHECK_MAX_REQUESTS
) -> RecheckReport:
    """Evaluate the draft against the prompts of the last ``days`` days of requests in the
    policy's organisation (or project); a dry run that writes nothing.

    The newest ``limit`` requests are checked; ``truncated`` says when there were more.
    """
    since = timezone.now() - timedelta(days=days)
    rows: list[tuple[int, int, str]] = []
    for source in _prompt_sources:
        rows.extend(source(policy.organization_id, policy.project_id, since, limit + 1))
    report = RecheckReport(days=days, truncated=len(rows) > limit)
    rows = rows[:limit]

    organization_version = selectors.organization_version_latest(
        organization_id=policy.organization_id
    )
    project_versions = selectors.project_versions_latest(project_ids={row[1] for row in rows})
    organization_layer = _version_layer(organization_version)
    draft_layer = [_Layer(_compiled_draft(policy.draft), policy.draft)]
    for request_id, project_id, prompt in rows:
        if len(prompt) > MAX_PROMPT_CHARS:
            continue  # cannot have been submitted under a policy; nothing to compare
        project_layer = _version_layer(project_versions.get(project_id))
        before_layers = organization_layer + project_layer
        if policy.project_id:
            after_layers = organization_layer + draft_layer
        else:
            after_layers = draft_layer + project_layer
        before = outcome_for(_matches(before_layers, prompt))
        after = outcome_for(_matches(after_layers, prompt))
        report.checked += 1
        if before == after:
            continue
        item = RecheckItem(request_id, project_id, prompt, before, after)
        if after == Outcome.BLOCK:
            report.newly_blocked.append(item)
        elif after == Outcome.ALLOW:
            report.newly_allowed.append(item)
        else:
            report.changed.append(item)
    return report
