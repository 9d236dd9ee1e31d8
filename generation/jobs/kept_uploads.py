"""Uploads kept across a form error: a creator who fixes another field of the request form
does not choose the init image (or mask) again.

When the project page answers a form with errors, each upload that had no error of its own
is saved once to storage (``uploads/kept/…``) and the page carries a signed reference to it
(``kept_<field>``: the path, the file's name, the user and the project, valid for an hour).
The next post of the form, without a new file for that field, gets the kept one back as if
it had been uploaded again; a reference signed for another user or project is ignored.
"""

import secrets

from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

FIELDS = ("init_image", "mask_image")
SALT = "imprimatur.jobs.kept-upload"
MAX_AGE_SECONDS = 3600


def _reference(token: str, *, project, user) -> dict | None:
    try:
        reference = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if reference.get("user") != user.pk or reference.get("project") != project.pk:
        return None
    return reference


def uploads_restore(post, files, *, project, user):
    """``files`` with each kept upload that ``post`` names put back where no new file was
    chosen, and the tokens of those it put back (``{field: token}``)."""
    files = files.copy()
    restored = {}
    for field in FIELDS:
        token = post.get(f"kept_{field}", "")
        if not token or files.get(field):
            continue
        reference = _reference(token, project=project, user=user)
        if reference is None:
            continue
        try:
            with default_storage.open(reference["path"], "rb") as handle:
                data = handle.read()
        except OSError:  # gone (cleaned up, or another storage): choose the file again
            continue
        files[field] = SimpleUploadedFile(reference["name"], data)
        restored[field] = token
    return files, restored


def uploads_keep(form, *, project, user, restored: dict) -> dict:
    """After a form error: ``{field: {"token", "name"}}`` for each upload of ``form`` without
    an error of its own (a restored one keeps its token; a new one is saved once)."""
    kept = {}
    for field in FIELDS:
        upload = form.files.get(field)
        if upload is None or field in form.errors:
            continue
        if field in restored:
            kept[field] = {"token": restored[field], "name": upload.name}
            continue
        upload.seek(0)
        path = default_storage.save(
            f"uploads/kept/{project.organization_id}/{project.pk}/{secrets.token_hex(12)}",
            ContentFile(upload.read()),
        )
        name = (upload.name or "image")[-100:]
        token = signing.dumps(
            {"path": path, "name": name, "user": user.pk, "project": project.pk}, salt=SALT
        )
        kept[field] = {"token": token, "name": name}
    return kept
