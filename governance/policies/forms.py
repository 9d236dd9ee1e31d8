"""Forms of the policy pages: they parse what the browser posts; the services validate it."""

import json

from django import forms

from governance.policies.matching import MAX_PROMPT_CHARS


class PolicyCreateForm(forms.Form):
    target = forms.ChoiceField(
        label="Applies to",
        help_text="The organisation policy applies to every project; a project policy adds to it.",
    )
    name = forms.CharField(label="Name", max_length=200, required=False)

    def __init__(self, *args, organizations=(), projects=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(f"organization:{o.pk}", f"{o.name} (all projects)") for o in organizations]
        choices += [
            (f"project:{project.pk}", f"{project.organization.name}: project {project.name}")
            for project in projects
        ]
        self.fields["target"].choices = choices


class PolicyDraftForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200, required=False)
    draft = forms.CharField(
        label="Policy document (JSON)",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "class": "mono"}),
    )

    def clean_draft(self):
        text = self.cleaned_data["draft"]
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"This is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
            ) from None


class PolicyTryForm(forms.Form):
    prompt = forms.CharField(
        label="Prompt",
        max_length=MAX_PROMPT_CHARS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    negative_prompt = forms.CharField(
        label="Negative prompt",
        max_length=MAX_PROMPT_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RecheckForm(forms.Form):
    days = forms.IntegerField(
        label="Requests of the last days",
        min_value=1,
        max_value=365,
        initial=30,
        help_text="From 1 to 365 days.",
    )
