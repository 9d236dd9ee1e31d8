"""Forms of the web UI: the brand kit editor and its reference image upload."""

from django import forms

from imprimatur.tenancy.models import (
    BRAND_THRESHOLD_DEFAULTS,
    BRAND_THRESHOLD_KEYS,
    HEX_COLOUR,
)

THRESHOLD_LABELS = {
    "reference": ("Reference images", "Lowest similarity to the reference images (0 to 1)."),
    "descriptors": (
        "Descriptors",
        "Lowest share of on-brand over off-brand descriptor similarity (0 to 1).",
    ),
    "palette": ("Palette", "Lowest share of the image close to a palette colour (0 to 1)."),
    "alignment": ("Prompt alignment", "Lowest similarity of the image to its prompt (0 to 1)."),
    "score": ("Brand score", "Lowest overall brand score, the weighted mix of the parts (0 to 1)."),
    "delta_e": (
        "Colour distance (ΔE)",
        "How far (CIELAB ΔE, 0 to 100) a pixel may be from a palette colour and still count.",
    ),
}


def threshold_field_name(key: str) -> str:
    return f"threshold_{key}"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class BrandKitForm(forms.Form):
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the project is for; shown on the project page.",
    )
    palette = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 5, "class": "mono", "spellcheck": "false", "placeholder": "#1F3A93"}
        ),
        help_text="One colour a line, as #RRGGBB. Images are scored by how much of them lies "
        "close to these colours.",
    )
    on_brand_descriptors = forms.CharField(
        label="On-brand descriptors",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "clean flat shapes"}),
        help_text="One a line: words that describe the brand's look.",
    )
    off_brand_descriptors = forms.CharField(
        label="Off-brand descriptors",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "gloomy, cluttered"}),
        help_text="One a line: looks the brand avoids.",
    )
    likeness_review = forms.BooleanField(
        label="Send images with a face to a likeness review",
        required=False,
        help_text="Generated people can resemble real ones. When on, every image in which a "
        "face is detected goes to a compliance “Likeness review” stage before approval.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key in BRAND_THRESHOLD_KEYS:
            label, help_text = THRESHOLD_LABELS[key]
            default = BRAND_THRESHOLD_DEFAULTS[key]
            limit = 100 if key == "delta_e" else 1
            self.fields[threshold_field_name(key)] = forms.FloatField(
                label=label,
                required=False,
                min_value=0,
                max_value=limit,
                help_text=f"{help_text} Empty: the default, {default:g}.",
                widget=forms.NumberInput(
                    attrs={
                        "step": "0.5" if key == "delta_e" else "0.01",
                        "placeholder": f"{default:g}",
                    }
                ),
            )

    @classmethod
    def initial_for(cls, project) -> dict:
        initial = {
            "description": project.description,
            "palette": "\n".join(project.palette),
            "on_brand_descriptors": "\n".join(project.on_brand_descriptors),
            "off_brand_descriptors": "\n".join(project.off_brand_descriptors),
            "likeness_review": project.likeness_review,
        }
        for key, value in project.brand_thresholds.items():
            initial[threshold_field_name(key)] = value
        return initial

    def clean_palette(self) -> list[str]:
        colours, errors = [], []
        for number, line in enumerate(self.cleaned_data["palette"].splitlines(), start=1):
            colour = line.strip()
            if not colour:
                continue
            if not colour.startswith("#"):
                colour = "#" + colour
            if not HEX_COLOUR.match(colour):
                errors.append(f"Line {number}: “{line.strip()}” is not a colour like #1F3A93.")
            elif colour.upper() not in colours:
                colours.append(colour.upper())
        if errors:
            raise forms.ValidationError(errors)
        return colours

    def clean_on_brand_descriptors(self) -> list[str]:
        return _lines(self.cleaned_data["on_brand_descriptors"])

    def clean_off_brand_descriptors(self) -> list[str]:
        return _lines(self.cleaned_data["off_brand_descriptors"])

    def threshold_fields(self):
        return [self[threshold_field_name(key)] for key in BRAND_THRESHOLD_KEYS]

    def brand_thresholds(self) -> dict:
        """The thresholds typed in; empty fields are left out (the checks' defaults apply)."""
        thresholds = {}
        for key in BRAND_THRESHOLD_KEYS:
            value = self.cleaned_data.get(threshold_field_name(key))
            if value is not None:
                thresholds[key] = value
        return thresholds

    def add_service_errors(self, error) -> None:
        """Show a service's ValidationError next to the fields it names."""
        for field, messages in error.message_dict.items():
            if field not in self.fields:  # brand_thresholds: the fields checked each already
                field = None
            for message in messages:
                self.add_error(field, message)


class ReferenceImageForm(forms.Form):
    image = forms.FileField(
        label="Image file",
        help_text="PNG, JPEG or WebP, at most 10 MB and 4096 pixels a side. It is stored as PNG.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    caption = forms.CharField(
        required=False, max_length=300, help_text="What it shows, for reviewers."
    )

    def add_service_errors(self, error) -> None:
        for field, messages in error.message_dict.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
