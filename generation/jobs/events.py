"""The audit events generation records: their names (registered from ``AppConfig.ready``, see
``governance.audit.registry``) and one function per event, so every caller records the same
fields. Call them inside the transaction that makes the change."""

import hashlib

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "generation.request.submit": "A generation request was submitted.",
    "generation.request.blocked": "The prompt policy refused a generation request.",
    "generation.request.transition": "A generation request changed status.",
    "generation.request.cancel": "A user asked to cancel a generation request.",
    "generation.job.transition": "A generation job changed status.",
    "generation.asset.create": "A generated image was stored as an asset.",
    "generation.asset.check": "The output checks ran on an image: verdict, scores, quarantine.",
    "generation.asset.recheck": "Someone asked to run an image's checks again.",
    "generation.asset.approve": "An image's review ended in approval.",
    "generation.asset.reject": "An image's review ended in rejection.",
    "generation.asset.request_changes": "An image's review ended asking for changes.",
    "generation.asset.publish": "An approved image was signed again, with its approval.",
    "generation.asset.upscale": "Someone asked for an approved image enlarged by the upscaler.",
    "generation.asset.export": "An image was exported as a signed PNG, JPEG or WebP file.",
    "generation.asset.push": "An approved image and its sidecar were copied to the project's "
    "destination.",
    "generation.asset.push_failed": "Copying an approved image to the project's destination "
    "failed on every retry.",
    "generation.destination.set": "An admin set or removed a project's push destination.",
    "generation.sharing.configure": "An admin turned share links on or off.",
    "generation.share.create": "Someone made a share link for an approved image.",
    "generation.share.revoke": "Someone revoked a share link.",
    "generation.share.use": "Someone downloaded an approved image by its share link.",
    "generation.model.create": "An admin added a model to the catalog.",
    "generation.model.update": "An admin changed a model of the catalog.",
}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_blocked(*, project, user, prompt: str, decision) -> None:
    """The policy refused a prompt: no request exists, so the project is the target."""
    audit_record(
        action="generation.request.blocked",
        actor=user,
        organization=project.organization,
        target=project,
        data={
            "project": project.slug,
            "outcome": str(decision.outcome),
            "prompt_sha256": _sha256(prompt),
            "policy_versions": list(decision.version_ids),
            "rules": sorted({match.rule_id for match in decision.matches}),
            "categories": sorted({str(match.category) for match in decision.matches}),
        },
    )


def request_submitted(*, request, user, decision, job=None, review=None) -> None:
    """A request was written, with its job (allowed) or its prompt review (sent to review)."""
    project = request.project
    audit_record(
        action="generation.request.submit",
        actor=user,
        organization=project.organization,
        target=request,
        data={
            "project": project.slug,
            "prompt_sha256": _sha256(request.prompt),
            "model": request.model_name,
            "mode": request.mode,
            **({"job": job.pk} if job else {"review": review.pk}),
            "policy_outcome": request.policy_outcome,
            "policy_versions": request.policy_versions,
            **({"policy_warnings": len(decision.warnings)} if decision.warnings else {}),
            **({"init_image_sha256": request.init_image_sha256} if request.init_image else {}),
            **(
                {
                    "preset": {
                        "name": request.preset_version.preset.name,
                        "version": request.preset_version.number,
                    }
                }
                if request.preset_version_id
                else {}
            ),
            **({"styles": request_styles_data(request)} if request.styles else {}),
            **({"upscale": request.upscale} if request.upscale > 1 else {}),
        },
    )


def upscale_requested(*, request, user, job) -> None:
    """An approved image's upscale was asked for: a new request (mode upscale) and its job."""
    parent = request.parent_asset
    audit_record(
        action="generation.asset.upscale",
        actor=user,
        organization=request.project.organization,
        target=request,
        project=request.project,
        data={
            "asset": parent.pk,
            "asset_sha256": parent.sha256,
            "factor": request.upscale,
            "job": job.pk,
        },
    )


def request_styles_data(request) -> list[dict]:
    """The request's styles as its audit event and manifest name them."""
    return [
        {
            "name": entry["name"],
            "version": entry["version"],
            "weight": entry["weight"],
            "sha256": entry["sha256"],
        }
        for entry in request.styles
    ]


def request_transitioned(*, request, previous: str, to: str, error: str = "", actor=None) -> None:
    audit_record(
        action="generation.request.transition",
        actor=actor,
        organization=request.project.organization,
        target=request,
        project=request.project,
        data={"from": previous, "to": to, **({"error": error} if error else {})},
    )


def request_cancel_asked(*, request, user) -> None:
    audit_record(
        action="generation.request.cancel",
        actor=user,
        organization=request.project.organization,
        target=request,
        project=request.project,
        data={"status": request.status},
    )


def job_transitioned(*, job, previous: str, to: str, error: str = "", actor=None) -> None:
    project = job.request.project
    audit_record(
        action="generation.job.transition",
        actor=actor,
        organization=project.organization,
        target=job,
        project=project,
        data={
            "from": previous,
            "to": to,
            "attempt": job.attempts,
            **({"error": error} if error else {}),
        },
    )


def asset_created(*, asset) -> None:
    request = asset.request
    audit_record(
        action="generation.asset.create",
        organization=request.project.organization,
        target=asset,
        project=request.project,
        data={
            "request": request.pk,
            "index": asset.index,
            "seed": asset.seed,
            "sha256": asset.sha256,
        },
    )


def asset_checked(*, asset, result: dict, trigger: str, user=None) -> None:
    brand = result.get("brand") or {}
    audit_record(
        action="generation.asset.check",
        actor=user,
        organization=asset.request.project.organization,
        target=asset,
        project=asset.request.project,
        data={
            "verdict": result["verdict"],
            "trigger": trigger,
            "suite_version": result["version"],
            "quarantined": asset.quarantined,
            "has_face": asset.has_face,
            "brand_score": brand.get("score"),
            "reasons": result["reasons"][:20],
        },
    )


def asset_recheck_asked(*, asset, user) -> None:
    audit_record(
        action="generation.asset.recheck",
        actor=user,
        organization=asset.request.project.organization,
        target=asset,
        project=asset.request.project,
        data={"previous_verdict": asset.check_verdict},
    )


def asset_transitioned(*, asset, action: str, previous: str, actor=None, review=None) -> None:
    """An image's review ended: ``action`` is one of the asset moves' events
    (``generation.asset.approve`` …)."""
    audit_record(
        action=action,
        actor=actor,
        organization=asset.request.project.organization,
        target=asset,
        project=asset.request.project,
        data={
            "from": previous,
            "to": asset.status,
            "request": asset.request_id,
            **({"review": review.pk} if review is not None else {}),
        },
    )


def asset_published(*, asset, sha256: str, stages: list[str], approver_role: str) -> None:
    project = asset.request.project
    audit_record(
        action="generation.asset.publish",
        organization=project.organization,
        target=asset,
        project=project,
        data={"sha256": sha256, "stages": list(stages), "approver_role": approver_role},
    )


def model_saved(*, profile, actor, created: bool, changed: dict, projects=None) -> None:
    audit_record(
        action="generation.model.create" if created else "generation.model.update",
        actor=actor,
        organization=profile.organization,
        target=profile,
        data={
            "name": profile.name,
            "changed": changed,
            "pipeline_class": profile.pipeline_class,
            "family": profile.family,
            **({"projects": sorted(p.slug for p in projects)} if projects is not None else {}),
        },
    )


def asset_exported(*, asset, user, fmt: str, sha256: str, size: int, approved: bool) -> None:
    """A signed export left the platform: its format, size and SHA-256, and the image it was
    made from (the asset's SHA-256; ``approved``: from its approved, published version)."""
    project = asset.request.project
    audit_record(
        action="generation.asset.export",
        actor=user,
        organization=project.organization,
        target=asset,
        project=project,
        data={
            "format": fmt,
            "size": size,
            "sha256": sha256,
            "asset_sha256": asset.sha256,
            "approved": approved,
        },
    )


def push_destination_set(*, project, actor, url: str, enabled: bool) -> None:
    audit_record(
        action="generation.destination.set",
        actor=actor,
        organization=project.organization,
        target=project,
        project=project,
        data={"url": url, "enabled": enabled},
    )


def asset_pushed(*, asset, push) -> None:
    project = asset.request.project
    audit_record(
        action="generation.asset.push",
        organization=project.organization,
        target=asset,
        project=project,
        data={"destination": push.destination_url, "names": push.names, "attempts": push.attempts},
    )


def asset_push_failed(*, asset, push) -> None:
    project = asset.request.project
    audit_record(
        action="generation.asset.push_failed",
        organization=project.organization,
        target=asset,
        project=project,
        data={
            "destination": push.destination_url,
            "attempts": push.attempts,
            "error": push.last_error,
        },
    )


def sharing_configured(*, organization, user, enabled: bool) -> None:
    audit_record(
        action="generation.sharing.configure",
        actor=user,
        organization=organization,
        target=organization,
        data={"share_links": enabled},
    )


def share_link_created(*, link, user, hours: int) -> None:
    """A share link was made (its token is not recorded: only who, for which image, until)."""
    asset = link.asset
    project = asset.request.project
    audit_record(
        action="generation.share.create",
        actor=user,
        organization=project.organization,
        target=link,
        project=project,
        data={"asset": asset.pk, "hours": hours, "expires_at": link.expires_at.isoformat()},
    )


def share_link_revoked(*, link, user) -> None:
    project = link.asset.request.project
    audit_record(
        action="generation.share.revoke",
        actor=user,
        organization=project.organization,
        target=link,
        project=project,
        data={"asset": link.asset_id, "uses": link.uses},
    )


def share_link_used(*, link, address: str) -> None:
    """Someone downloaded an image by its share link: no user, the client's address."""
    project = link.asset.request.project
    audit_record(
        action="generation.share.use",
        organization=project.organization,
        target=link,
        project=project,
        data={"asset": link.asset_id, "address": address},
    )
