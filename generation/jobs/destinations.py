"""Push to a destination: once an approved image is published (``signing.asset_publish``),
copy the published file (its C2PA manifest embedded) and a JSON sidecar (prompt, model,
policy versions, approvals) to the project's destination, if it has one.

A destination is a folder under ``IMPRIMATUR_PUSH_FOLDER_ROOT`` (``/path`` or
``file:///path``) or ``s3://BUCKET[/prefix]`` for a bucket the operator lists in
``IMPRIMATUR_PUSH_S3_BUCKETS`` (storage URLs as for ``STORAGE_URL``: its endpoint and region
come from there, the credentials from the environment). Admins choose among what the
operator allows: no path outside the root, no endpoint of their own (no SSRF, no writing
into the platform's files). Files are never overwritten (a name in use gets a suffix).

A push is queued in the publishing transaction, sent after commit on the "default" queue,
retried on the webhooks' schedule (``IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE``, a beat sweep for
lost messages) and audited (``generation.asset.push``, ``generation.asset.push_failed``).
"""

import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.utils import timezone

from generation.jobs import dispatch, events
from generation.jobs.models import Asset, AssetPush, PushDestination
from imprimatur.storage import storage_backend

CLAIM_S = 300  # a push in flight is left alone this long (a large upload)


def _folder(url: str) -> Path | None:
    if url.startswith("file://"):
        parts = urlsplit(url)
        if parts.netloc:
            raise ValidationError({"url": "A folder is file:///absolute/path (three slashes)."})
        return Path(parts.path)
    return Path(url) if url.startswith("/") else None


def _folder_checked(path: Path) -> Path:
    root = settings.IMPRIMATUR_PUSH_FOLDER_ROOT
    if not root:
        raise ValidationError({"url": "Folder destinations are off (IMPRIMATUR_PUSH_FOLDER_ROOT)."})
    root_path = Path(root).resolve()
    resolved = path.resolve()
    if resolved != root_path and root_path not in resolved.parents:
        raise ValidationError({"url": f"A destination folder must be inside {root_path}."})
    return resolved


def _bucket_options(url: str) -> tuple[dict, str]:
    parts = urlsplit(url)
    if parts.query or parts.username or parts.password or not parts.hostname:
        raise ValidationError({"url": "Write s3://BUCKET or s3://BUCKET/prefix, nothing more."})
    for allowed in settings.IMPRIMATUR_PUSH_S3_BUCKETS:
        allowed_parts = urlsplit(allowed)
        if allowed_parts.hostname == parts.hostname:
            try:
                backend = storage_backend(allowed, env=os.environ)
            except ImproperlyConfigured as exc:
                raise ValidationError({"url": str(exc)}) from exc
            return backend["OPTIONS"], parts.path.strip("/")
    raise ValidationError(
        {
            "url": f"The bucket {parts.hostname!r} is not one the operator allows "
            "(IMPRIMATUR_PUSH_S3_BUCKETS)."
        }
    )


def destination_check(url: str) -> str:
    """The destination URL, cleaned; ValidationError on ``url`` if it is not allowed."""
    url = (url or "").strip()
    try:
        if url.startswith("s3://"):
            _bucket_options(url)
            return url
        folder = _folder(url)
    except ValueError as exc:  # urlsplit: an unbalanced [ and the like
        raise ValidationError({"url": f"Not a valid destination: {exc}."}) from exc
    if folder is None:
        raise ValidationError({"url": "Give a folder (/path, file:///path) or s3://BUCKET/prefix."})
    _folder_checked(folder)
    return url


def destination_storage(url: str):
    """The Django storage that writes to destination ``url``."""
    if url.startswith("s3://"):
        from storages.backends.s3 import S3Storage

        options, prefix = _bucket_options(url)
        return S3Storage(**{**options, "location": prefix})
    return FileSystemStorage(location=str(_folder_checked(_folder(url))))


@transaction.atomic
def push_destination_set(*, project, url: str, enabled: bool, actor) -> PushDestination | None:
    """Set (or, with an empty ``url``, remove) the project's destination; audited."""
    url = (url or "").strip()
    current = PushDestination.objects.filter(project=project).first()
    if not url:
        if current is not None:
            current.delete()
            events.push_destination_set(project=project, actor=actor, url="", enabled=False)
        return None
    url = destination_check(url)
    destination, _ = PushDestination.objects.update_or_create(
        project=project, defaults={"url": url, "enabled": enabled}
    )
    events.push_destination_set(project=project, actor=actor, url=url, enabled=enabled)
    return destination


def push_queue(*, asset: Asset) -> AssetPush | None:
    """Queue the copy of a just-published image, in the publishing transaction."""
    destination = PushDestination.objects.filter(
        project_id=asset.request.project_id, enabled=True
    ).first()
    if destination is None:
        return None
    push = AssetPush.objects.create(
        asset=asset, destination_url=destination.url, next_attempt_at=timezone.now()
    )
    dispatch.send_on_commit(dispatch.PUSH_ASSET, args=[push.pk])
    return push


def sidecar(asset: Asset) -> dict:
    """What travels with the file: the request (prompt, model, parameters, policy), the
    image and its approvals (approvers named only where the project discloses them)."""
    from governance.reviews.selectors import review_decisions, reviews_of

    request = asset.request
    project = request.project
    review = next(iter(reviews_of(target=asset)), None)
    disclose = project.provenance_disclose_approver
    approvals = [
        {
            "stage": decision.task.name,
            "role": decision.task.role,
            "decision": decision.decision,
            "decided_at": decision.created_at.isoformat(),
            **({"by": decision.user.get_username()} if disclose else {}),
        }
        for decision in (review_decisions(review) if review else [])
    ]
    return {
        "organization": project.organization.slug,
        "project": project.slug,
        "request": {
            "id": request.pk,
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "model": request.model_name,
            "mode": request.mode,
            "width": request.width,
            "height": request.height,
            "steps": request.steps,
            "guidance_scale": request.guidance_scale,
            "policy_outcome": request.policy_outcome,
            "policy_versions": request.policy_versions,
        },
        "asset": {
            "id": asset.pk,
            "index": asset.index,
            "seed": asset.seed,
            "sha256": asset.sha256,
            "check_verdict": asset.check_verdict,
        },
        "review": {"id": review.pk, "workflow_version": review.workflow.version}
        if review
        else None,
        "approvals": approvals,
        "manifest": "embedded (C2PA) in the image file",
    }


def _claim(push_id: int) -> AssetPush | None:
    now = timezone.now()
    with transaction.atomic():
        push = AssetPush.objects.select_for_update().filter(pk=push_id).first()
        if push is None or push.status != AssetPush.Status.PENDING:
            return None
        if push.next_attempt_at is None or push.next_attempt_at > now:
            return None
        push.next_attempt_at = now + timedelta(seconds=CLAIM_S)
        push.save(update_fields=["next_attempt_at"])
        return push


def push_attempt(push_id: int) -> AssetPush | None:
    """Copy the image and its sidecar once, if the push is due; the push, or None."""
    push = _claim(push_id)
    if push is None:
        return None
    asset = Asset.objects.select_related("request__project__organization").get(pk=push.asset_id)
    names, error = [], ""
    try:
        storage = destination_storage(push.destination_url)
        stem = f"request{asset.request_id}-asset{asset.pk}"
        with asset.published_image.open("rb") as handle:
            names.append(storage.save(f"{stem}.png", ContentFile(handle.read())))
        document = json.dumps(sidecar(asset), indent=2, sort_keys=True).encode("utf-8")
        names.append(storage.save(f"{stem}.json", ContentFile(document)))
    except ValidationError as exc:
        error = " ".join(exc.messages)
    except Exception as exc:  # the destination refused or is unreachable: retried
        error = f"{type(exc).__name__}: {exc}"
    return _push_record(push.pk, names=names, error=error)


@transaction.atomic
def _push_record(push_id: int, *, names: list[str], error: str) -> AssetPush:
    push = AssetPush.objects.select_for_update().select_related("asset").get(pk=push_id)
    push.attempts += 1
    push.last_error = error[:500]
    push.names = names
    if not error:
        push.status = AssetPush.Status.SUCCEEDED
        push.pushed_at = timezone.now()
        push.next_attempt_at = None
        events.asset_pushed(asset=push.asset, push=push)
    else:
        schedule = settings.IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE
        if push.attempts < len(schedule):
            delay = schedule[push.attempts]
            push.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            transaction.on_commit(
                lambda: dispatch.send_now(
                    dispatch.PUSH_ASSET, args=[push.pk], queue=dispatch.DEFAULT_QUEUE,
                    countdown=delay,
                )
            )  # fmt: skip
        else:
            push.status = AssetPush.Status.FAILED
            push.next_attempt_at = None
            events.asset_push_failed(asset=push.asset, push=push)
    push.save()
    return push


def pushes_due_send(limit: int = 200) -> int:
    """Send again the pending pushes whose message was lost; beat runs it every minute."""
    overdue = timezone.now() - timedelta(seconds=60)
    due = list(
        AssetPush.objects.filter(status=AssetPush.Status.PENDING, next_attempt_at__lte=overdue)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        dispatch.send_now(dispatch.PUSH_ASSET, args=[pk], queue=dispatch.DEFAULT_QUEUE)
    return len(due)
