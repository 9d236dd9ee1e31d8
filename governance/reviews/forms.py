"""The decision form of a review task."""

from django import forms

from governance.reviews.models import ReviewDecision
from governance.reviews.stages import STAGE_ROLES
from governance.reviews.wording import CONDITION_LABELS, KIND_LABELS

#: The conditions a stage may wait for, in words.
CONDITION_CHOICES = list(CONDITION_LABELS.items())


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=ReviewDecision.Decision.choices, widget=forms.HiddenInput)
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Needed to reject: the creator reads it.",
    )
    override_reason = forms.CharField(
        label="Override reason",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Admins only, when deciding outside the rules. It is audited as an override.",
    )


class StageForm(forms.Form):
    """One stage of a workflow; a row left empty is ignored."""

    name = forms.CharField(label="Stage", max_length=100, required=False)
    role = forms.ChoiceField(
        label="Decided by",
        choices=[(role.value, role.label) for role in STAGE_ROLES],
        required=False,
    )
    approvals = forms.IntegerField(label="Approvals", min_value=1, max_value=10, initial=1)
    kinds = forms.MultipleChoiceField(
        label="Reviews",
        choices=list(KIND_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    when = forms.ChoiceField(label="When", choices=CONDITION_CHOICES, initial="always")
    due_hours = forms.IntegerField(
        label="Due within (hours)", min_value=1, max_value=2160, required=False
    )


class BaseStageFormSet(forms.BaseFormSet):
    def stages(self) -> list[dict]:
        """The rows that are filled in and not deleted, in order, as stage objects."""
        stages = []
        for form in self.forms:
            if not form.has_changed() and not form.initial:
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            data = form.cleaned_data
            if not (data.get("name") or "").strip():
                continue
            stages.append(
                {
                    "name": data["name"].strip(),
                    "role": data.get("role") or "",
                    "approvals": data.get("approvals") or 1,
                    "kinds": data.get("kinds") or [],
                    "when": data.get("when") or "always",
                    "due_hours": data.get("due_hours"),
                }
            )
        return stages


StageFormSet = forms.formset_factory(StageForm, formset=BaseStageFormSet, extra=1, can_delete=True)


class WorkflowForm(forms.Form):
    distinct_approvers = forms.BooleanField(
        label="A different person at each stage",
        required=False,
        help_text="Nobody may approve two stages of the same review (admins may override, "
        "with a reason).",
    )
