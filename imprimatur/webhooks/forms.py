"""The webhook endpoints page's form (``views.endpoint_list``)."""

from django import forms

from imprimatur.webhooks.catalog import EVENT_TYPES


class EndpointForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=None, empty_label=None)
    url = forms.URLField(max_length=2000, assume_scheme="https", label="URL")
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {text}") for name, text in EVENT_TYPES.items()],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: every event type.",
    )

    def __init__(self, *args, organizations, **kwargs):
        kwargs.setdefault("label_suffix", "")  # labels as on the other pages: no colon
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        if organizations.count() == 1:
            self.fields["organization"].initial = organizations.first()
