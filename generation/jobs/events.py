"""The audit events this app records: their names and meanings, registered from
``AppConfig.ready`` (see ``governance.audit.registry``)."""

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
    "generation.asset.publish": "An approved image was signed again, with its approval.",
    "generation.asset.export": "An image was exported as a signed PNG, JPEG or WebP file.",
    "generation.model.create": "An admin added a model to the catalog.",
    "generation.model.update": "An admin changed a model of the catalog.",
}


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
