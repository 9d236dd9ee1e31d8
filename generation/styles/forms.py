"""The styles pages' forms: types here; the checks are the services' (as in the API)."""

from django import forms

from generation.styles.presets import SCHEDULERS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleImageField, self).clean(file, initial) for file in files]


class PresetForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What creators choose; cannot change later.")
    prompt_template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        initial="{prompt}",
        help_text="The creator's prompt goes where {prompt} is.",
    )
    negative_prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    size = forms.IntegerField(required=False, help_text="Width and height in pixels.")
    steps = forms.IntegerField(required=False)
    guidance_scale = forms.FloatField(required=False, label="Guidance")
    scheduler = forms.ChoiceField(required=False)
    style_model = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Style", help_text="Approved only."
    )
    style_weight = forms.FloatField(initial=1.0, label="Style weight")

    def __init__(self, *args, styles=(), editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scheduler"].choices = [("", "The model's own")] + [
            (name, name) for name in SCHEDULERS
        ]
        self.fields["style_model"].choices = [("", "None")] + [
            (style.pk, f"{style.name} v{style.version}") for style in styles
        ]
        if editing:
            self.fields["name"].disabled = True


class StyleUploadForm(forms.Form):
    name = forms.SlugField(max_length=100, help_text="Letters, digits, - and _.")
    base_model = forms.ChoiceField(label="Base model")
    images = MultipleImageField(
        label="Training images", help_text="At least 10 of the brand's own images."
    )
    rights_owner = forms.CharField(max_length=200, label="Rights owner")
    licence = forms.CharField(max_length=200)
    steps = forms.IntegerField(initial=300)
    time_budget_s = forms.IntegerField(initial=1800, label="Time budget (seconds)")
    attest = forms.BooleanField(
        required=False,
        label="I attest that the rights owner above holds the rights to these images and that "
        "they may be used to train this style under the licence given.",
    )

    def __init__(self, *args, models=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].choices = [(model.name, model.display_name) for model in models]
