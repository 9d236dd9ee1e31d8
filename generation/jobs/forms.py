"""The request form: field types here, limits in `services.generation_params_clean`."""

from django import forms
from django.conf import settings

from generation.jobs.services import LIMITS

SIZE_CHOICES = [
    (size, f"{size} px")
    for size in (64, 128, 256, 512, 768, 1024)
    if LIMITS.min_size <= size <= LIMITS.max_size
]


class GenerationRequestForm(forms.Form):
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "a red star on a navy background"}),
        max_length=1000,
    )
    negative_prompt = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=1000
    )
    width = forms.TypedChoiceField(choices=SIZE_CHOICES, coerce=int)
    height = forms.TypedChoiceField(choices=SIZE_CHOICES, coerce=int)
    steps = forms.IntegerField(initial=20)
    guidance_scale = forms.FloatField(initial=7.5, label="Guidance")
    seed = forms.IntegerField(required=False, help_text="Leave empty for a random seed.")
    num_images = forms.IntegerField(initial=1, label="Images")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["width"].initial = settings.IMPRIMATUR_DEFAULT_IMAGE_SIZE
        self.fields["height"].initial = settings.IMPRIMATUR_DEFAULT_IMAGE_SIZE
        for name in ("steps", "guidance_scale", "num_images", "seed"):
            self.fields[name].widget.attrs["inputmode"] = "numeric"
