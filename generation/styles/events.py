"""The audit events of brand styles: their names (registered from ``AppConfig.ready``) and one
function per event. Call them inside the transaction that makes the change."""

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "styles.preset.create": "An admin created a style preset.",
    "styles.preset.update": "An admin changed a style preset (a new version).",
    "styles.style.create": "An admin uploaded a style's training set, with its rights "
    "attestations.",
    "styles.style.train": "An admin started or resumed a style's training.",
    "styles.style.cancel": "An admin asked to stop a style's training.",
    "styles.style.transition": "A style model changed status.",
}


def preset_saved(*, version, user, created: bool) -> None:
    preset = version.preset
    audit_record(
        action="styles.preset.create" if created else "styles.preset.update",
        actor=user,
        organization=preset.project.organization,
        target=preset,
        project=preset.project,
        data={
            "name": preset.name,
            "version": version.number,
            "prompt_template": version.prompt_template,
            "negative_prompt": version.negative_prompt,
            "size": version.size,
            "steps": version.steps,
            "guidance_scale": version.guidance_scale,
            "scheduler": version.scheduler,
            "style_model": version.style_model_id,
            "style_weight": version.style_weight,
        },
    )


def style_created(*, style, user) -> None:
    images = list(style.images.all())
    audit_record(
        action="styles.style.create",
        actor=user,
        organization=style.project.organization,
        target=style,
        project=style.project,
        data={
            "name": style.name,
            "version": style.version,
            "base_model": style.base_model.name,
            "images": [
                {
                    "sha256": image.sha256,
                    "owner": image.rights_owner,
                    "licence": image.licence,
                    "held_out": image.held_out,
                }
                for image in images
            ],
            "attested_by": user.get_username(),
        },
    )


def style_train_asked(*, style, user, resume: bool) -> None:
    audit_record(
        action="styles.style.train",
        actor=user,
        organization=style.project.organization,
        target=style,
        project=style.project,
        data={"resume": resume, "config": style.config},
    )


def style_cancel_asked(*, style, user) -> None:
    audit_record(
        action="styles.style.cancel",
        actor=user,
        organization=style.project.organization,
        target=style,
        project=style.project,
        data={"steps_done": style.steps_done},
    )


def style_transitioned(*, style, previous: str, to: str, actor=None, data=None) -> None:
    audit_record(
        action="styles.style.transition",
        actor=actor,
        organization=style.project.organization,
        target=style,
        project=style.project,
        data={"from": previous, "to": to, **(data or {})},
    )
