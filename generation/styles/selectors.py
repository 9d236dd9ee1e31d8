"""Reads for styles, scoped to what the user may see (another organisation's: 404)."""

from django.http import Http404

from generation.styles.models import StyleModel, StylePreset
from imprimatur.tenancy.permissions import Action


def preset_list(*, user, project=None, action: str = Action.VIEW):
    presets = StylePreset.objects.restrict(user, action).select_related("project")
    if project is not None:
        presets = presets.filter(project=project)
    return presets.prefetch_related("versions")


def preset_get(*, user, pk: int, action: str = Action.VIEW) -> StylePreset:
    preset = preset_list(user=user, action=action).filter(pk=pk).first()
    if preset is None:
        raise Http404("No such preset.")
    return preset


def style_list(*, user, project=None, action: str = Action.VIEW):
    styles = StyleModel.objects.restrict(user, action).select_related(
        "project", "base_model", "created_by"
    )
    if project is not None:
        styles = styles.filter(project=project)
    return styles


def style_get(*, user, pk: int, action: str = Action.VIEW) -> StyleModel:
    style = style_list(user=user, action=action).filter(pk=pk).first()
    if style is None:
        raise Http404("No such style.")
    return style


def approved_styles(project):
    return StyleModel.objects.filter(project=project, status=StyleModel.Status.APPROVED)
