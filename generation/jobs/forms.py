"""The request form: field types and choices here; limits in `params.generation_params_clean`."""

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import ngettext

from generation.jobs.models import UPSCALE_FACTORS, Mode
from generation.jobs.params import models_for_project, prompt_limits_text, upscaler_available
from generation.styles.presets import presets_for_project
from governance.policies.matching import MAX_PROMPT_CHARS
from governance.policies.services import project_limits

#: What the live policy feedback sends: the prompts, then the parameters a policy may limit.
POLICY_FEEDBACK_FIELDS = (
    "prompt",
    "negative_prompt",
    "model",
    "width",
    "height",
    "num_images",
    "steps",
    "guidance_scale",
)


class GenerationRequestForm(forms.Form):
    # The length limit is checked with the others (the same message as the API); the browser
    # is only told it, as maxlength.
    prompt = forms.CharField(
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": "a red star on a navy background",
                "maxlength": MAX_PROMPT_CHARS,
            }
        ),
    )
    negative_prompt = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "maxlength": MAX_PROMPT_CHARS})
    )
    model = forms.ChoiceField()
    mode = forms.ChoiceField(choices=Mode.choices, initial=Mode.TEXT_TO_IMAGE)
    width = forms.TypedChoiceField(coerce=int)
    height = forms.TypedChoiceField(coerce=int)
    num_images = forms.IntegerField(initial=1, label="Images")
    steps = forms.IntegerField()
    guidance_scale = forms.FloatField(label="Guidance")
    seed = forms.IntegerField(required=False, help_text="Leave empty for a random seed.")
    strength = forms.FloatField(
        required=False,
        initial=0.8,
        help_text="Image-to-image and inpainting: how far to move from the init image (0-1].",
    )
    upscale = forms.TypedChoiceField(
        coerce=int,
        choices=UPSCALE_FACTORS,
        initial=1,
        required=False,
        label="Enlarge",
        help_text="After generation, by the platform's upscaler (a super-resolution network).",
    )
    init_image = forms.FileField(
        required=False,
        label="Init image",
        help_text="PNG, JPEG or WebP, for image-to-image and inpainting.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    mask_image = forms.FileField(
        required=False,
        label="Mask",
        help_text="Inpainting: white where the image is repainted.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )

    preset = forms.ChoiceField(
        required=False,
        help_text="A brand preset: its template wraps your prompt; the size, steps and "
        "guidance you leave unchanged are the preset's.",
    )
    styles = forms.CharField(
        required=False,
        help_text="Approved brand styles, separated by commas; a weight after a colon "
        "(brand-outline:0.8).",
    )

    #: Fields whose unchanged form values give way to a chosen preset's.
    PRESET_DEFAULTS = ("width", "height", "steps", "guidance_scale")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [("", "None")] + [
            (name, name) for name in presets_for_project(project)
        ]
        # Live policy feedback while typing (htmx): the prompt as it is typed, the parameters
        # (which a policy may limit) when they change; only these fields travel, not uploads.
        feedback = {
            "hx-post": reverse("jobs:policy-check", args=[project.slug]),
            "hx-target": "#policy-feedback",
            "hx-params": ",".join((*POLICY_FEEDBACK_FIELDS, "preset")),
        }
        self.fields["prompt"].widget.attrs.update(
            {
                **feedback,
                "hx-trigger": "input changed delay:400ms",
                "aria-describedby": "policy-feedback",
            }
        )
        for name in (*POLICY_FEEDBACK_FIELDS[2:], "preset"):
            self.fields[name].widget.attrs.update({**feedback, "hx-trigger": "change"})
        self.models = list(models_for_project(project))
        limits = project_limits(project=project)
        self.fields["model"].choices = [
            (profile.name, model_choice_label(profile, limits)) for profile in self.models
        ]
        if prompt_help := prompt_limits_text(self.models):
            self.fields["prompt"].help_text = prompt_help
        sizes = sorted(
            {
                size
                for profile in self.models
                for size in profile.sizes
                if limits.max_side is None or size <= limits.max_side
            }
        )
        for name in ("width", "height"):
            self.fields[name].choices = [(size, f"{size} px") for size in sizes]
        if self.models:
            first = self.models[0]
            self.fields["width"].initial = self.fields["height"].initial = first.default_size
            self.fields["steps"].initial = _tighter(first.default_steps, limits.max_steps)
            self.fields["guidance_scale"].initial = first.default_guidance
        for name in ("steps", "guidance_scale", "num_images", "seed", "strength"):
            self.fields[name].widget.attrs["inputmode"] = "decimal"
        if not upscaler_available():
            del self.fields["upscale"]


def _tighter(value, limit):
    return value if limit is None else min(value, limit)


def model_choice_label(profile, limits) -> str:
    """A model in the request form's menu, with what a request may really ask of it: the
    smaller of the model's and the prompt policy's maximum (``limits``: ``project_limits``)."""
    sizes = [size for size in profile.sizes if limits.max_side is None or size <= limits.max_side]
    steps = _tighter(profile.max_steps, limits.max_steps)
    images = _tighter(profile.max_images, limits.max_images)
    largest = f"up to {max(sizes)} px" if sizes else "no size the policy allows"
    return (
        f"{profile.display_name} — {largest}, "
        f"{ngettext('%d step', '%d steps', steps) % steps}, "
        f"{ngettext('%d image', '%d images', images) % images}"
    )


class ModelProfileForm(forms.Form):
    """Admin form for a model of the catalog; `catalog.model_profile_save` checks it."""

    name = forms.SlugField(help_text="What requests name as their model; cannot change later.")
    display_name = forms.CharField(required=False)
    path = forms.CharField(
        help_text="Local diffusers pipeline directory (or .safetensors file) on the workers."
    )
    single_file_config = forms.CharField(
        required=False,
        label="Config directory",
        help_text="Only for a single .safetensors file: a local diffusers directory with its "
        "configs.",
    )
    capabilities = forms.MultipleChoiceField(
        choices=Mode.choices, widget=forms.CheckboxSelectMultiple, initial=[Mode.TEXT_TO_IMAGE]
    )
    queue = forms.CharField(initial="gpu", help_text="Celery queue of the workers that hold it.")
    scheduler = forms.ChoiceField(required=False)
    sizes = forms.CharField(initial="512", help_text="Allowed sizes, comma-separated: 512,768")
    default_size = forms.IntegerField(initial=512)
    default_steps = forms.IntegerField(initial=20)
    max_steps = forms.IntegerField(initial=50)
    default_guidance = forms.FloatField(initial=7.5)
    max_guidance = forms.FloatField(initial=20)
    max_images = forms.IntegerField(initial=4)
    licence_note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(required=False, initial=True)
    projects = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text="Who may use it."
    )

    def __init__(self, *args, organization, editing: bool = False, **kwargs):
        from generation.jobs.models import ModelProfile

        super().__init__(*args, **kwargs)
        self.fields["scheduler"].choices = ModelProfile.Scheduler.choices
        self.fields["scheduler"].help_text = (
            "Flow-matching models (Stable Diffusion 3, Flux) take only their own scheduler or "
            "Flow-matching Euler; the others take any but that one."
        )
        self.fields["projects"].choices = [
            (project.slug, project.name) for project in organization.projects.order_by("name")
        ]
        if editing:
            self.fields["name"].disabled = True

    def clean_sizes(self) -> list[int]:
        try:
            return [int(part) for part in self.cleaned_data["sizes"].split(",") if part.strip()]
        except ValueError as error:
            raise forms.ValidationError("Give whole numbers separated by commas.") from error


def request_style_params(form: GenerationRequestForm, values: dict) -> dict:
    """The form's preset and styles as the submission takes them: a preset's defaults win
    over the form's unchanged initial values, and ``styles`` becomes a list of choices."""
    if values.get("preset"):
        for name in form.PRESET_DEFAULTS:
            if name not in form.changed_data:
                values.pop(name, None)
    else:
        values.pop("preset", None)
    text = values.pop("styles", "") or ""
    styles = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        entry: dict = {"name": name.strip()}
        if weight.strip():
            try:
                entry["weight"] = float(weight)
            except ValueError:
                raise ValidationError(
                    {"styles": f"Give the weight of {name.strip()!r} as a number."}
                ) from None
        styles.append(entry)
    if styles:
        values["styles"] = styles
    return values
