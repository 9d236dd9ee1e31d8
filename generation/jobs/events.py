"""The audit events this app records: their names and meanings, registered from
``AppConfig.ready`` (see ``governance.audit.registry``)."""

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
    "generation.model.create": "An admin added a model to the catalog.",
    "generation.model.update": "An admin changed a model of the catalog.",
}
