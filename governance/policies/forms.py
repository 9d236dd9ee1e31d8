"""Forms of the policy pages: they parse what the browser posts; the services validate it."""

import json

from django import forms

from governance.policies.matching import MAX_PROMPT_CHARS, Action, Category, Outcome


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


# --- The structured draft editor (see ``editor``) ----------------------------------------
# Every field is optional here: ``document_clean`` judges the document the forms add up to,
# so the editor and the JSON editor give the same messages. These forms only parse.

CATEGORY_WORDS = {
    Category.SEXUAL: "Sexual content",
    Category.VIOLENCE: "Violence",
    Category.HATE: "Hate",
    Category.SELF_HARM: "Self-harm",
    Category.PUBLIC_FIGURES: "Public figures",
    Category.COMPETITOR_BRANDS: "Competitor brands",
    Category.CUSTOM: "Custom (brand-specific)",
}
ACTION_WORDS = {
    Action.BLOCK: "Block: refuse the prompt",
    Action.REVIEW: "Review: a reviewer approves it first",
    Action.WARN: "Warn: only tell the creator",
}
RULE_KINDS = (("terms", "Words and phrases"), ("pattern", "Regular expression (RE2)"))
CONCEPT_ACTION_WORDS = (
    ("flag", "Flag: send the image to review"),
    ("fail", "Fail: quarantine the image"),
)
OUTCOME_CHOICES = (
    (Outcome.ALLOW.value, "Allow"),
    (Outcome.REVIEW.value, "Review"),
    (Outcome.BLOCK.value, "Block"),
)


def _lines(rows: int, **attrs) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, **attrs})


def _number(**attrs) -> forms.NumberInput:
    return forms.NumberInput(attrs={"inputmode": "numeric", **attrs})


class PolicyEditorForm(forms.Form):
    """The policy's name and the texts that are not rows of their own."""

    name = forms.CharField(label="Name", max_length=200, required=False)
    negative_additions = forms.CharField(
        label="Negative-prompt additions",
        required=False,
        widget=_lines(4),
        help_text="One per line. Always added to the negative prompt of every request.",
    )


class RuleForm(forms.Form):
    id = forms.CharField(
        label="Rule id",
        required=False,
        max_length=200,
        help_text="A short name: letters, digits, _ . : - (for example no-nudity).",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    category = forms.ChoiceField(
        label="Category",
        required=False,
        initial=Category.CUSTOM.value,
        choices=[(category.value, words) for category, words in CATEGORY_WORDS.items()],
    )
    action = forms.ChoiceField(
        label="When it matches",
        required=False,
        initial=Action.BLOCK.value,
        choices=[(action.value, words) for action, words in ACTION_WORDS.items()],
        help_text="Block refuses the prompt; review holds it until a reviewer approves it; "
        "warn lets it through and tells the creator.",
    )
    explanation = forms.CharField(
        label="Explanation shown to creators",
        required=False,
        max_length=2000,
        widget=_lines(2),
    )
    kind = forms.ChoiceField(
        label="Match",
        required=False,
        initial="terms",
        choices=RULE_KINDS,
        widget=forms.RadioSelect,
    )
    terms = forms.CharField(
        label="Words and phrases",
        required=False,
        widget=_lines(4, spellcheck="false"),
        help_text="One per line. Matched as whole words, ignoring case, accents and l33t spelling.",
    )
    pattern = forms.CharField(
        label="Regular expression (RE2)",
        required=False,
        strip=False,
        max_length=10000,
        widget=forms.TextInput(
            attrs={"class": "mono", "spellcheck": "false", "autocomplete": "off"}
        ),
        help_text="RE2 syntax, ignoring case: no look-arounds or back-references.",
    )


class ConceptForm(forms.Form):
    concept = forms.CharField(label="Concept", required=False, max_length=1000)
    action = forms.ChoiceField(
        label="When the image shows it",
        required=False,
        initial="flag",
        choices=CONCEPT_ACTION_WORDS,
    )
    threshold = forms.FloatField(
        label="Threshold (0 to 1)",
        required=False,
        widget=_number(step="0.01", min="0", max="1", inputmode="decimal"),
        help_text="Empty: the checks' default.",
    )


class ExampleForm(forms.Form):
    prompt = forms.CharField(
        label="Prompt", required=False, max_length=MAX_PROMPT_CHARS * 2, widget=_lines(2)
    )
    expected = forms.ChoiceField(
        label="Expected outcome", required=False, initial="block", choices=OUTCOME_CHOICES
    )


class PolicyLimitsForm(forms.Form):
    models = forms.CharField(
        label="Allowed models",
        required=False,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text="Model names, separated by commas or new lines. Empty: any model the "
        "project allows.",
    )
    max_steps = forms.IntegerField(
        label="Most steps", required=False, widget=_number(min="1"), help_text="Empty: no limit."
    )
    max_guidance = forms.FloatField(
        label="Highest guidance scale",
        required=False,
        widget=_number(min="0", step="any", inputmode="decimal"),
        help_text="Empty: no limit.",
    )
    max_images = forms.IntegerField(
        label="Most images per request",
        required=False,
        widget=_number(min="1"),
        help_text="Empty: no limit.",
    )
    max_side = forms.IntegerField(
        label="Largest width or height (px)",
        required=False,
        widget=_number(min="1"),
        help_text="Empty: no limit.",
    )
    user_day = forms.IntegerField(label="Per user per day", required=False, widget=_number(min="0"))
    user_month = forms.IntegerField(
        label="Per user per month", required=False, widget=_number(min="0")
    )
    project_day = forms.IntegerField(
        label="Per project per day", required=False, widget=_number(min="0")
    )
    project_month = forms.IntegerField(
        label="Per project per month", required=False, widget=_number(min="0")
    )


RuleFormSet = forms.formset_factory(RuleForm, extra=1, can_delete=True, max_num=1000)
ConceptFormSet = forms.formset_factory(ConceptForm, extra=1, can_delete=True, max_num=200)
ExampleFormSet = forms.formset_factory(ExampleForm, extra=1, can_delete=True, max_num=500)


class PackAdoptForm(forms.Form):
    """Adopt a baseline pack version with an action in a policy's draft, or drop it."""

    pack = forms.CharField(max_length=40)
    version = forms.IntegerField(min_value=1, required=False)
    action = forms.ChoiceField(choices=[(a.value, a.value) for a in Action], required=False)
    drop = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        if not data.get("drop") and (data.get("version") is None or not data.get("action")):
            raise forms.ValidationError("Give the pack version and the action to adopt it with.")
        return data
