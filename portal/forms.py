"""Every Django form in the portal renders with Designsystemet markup.

Django 5.2 lets the renderer choose the BoundField class, so widgets get their ``ds-input``
class and their error description here once, instead of in every form (allauth's included).
"""

from django import forms
from django.forms import BoundField, RadioSelect
from django.forms.models import ModelChoiceIterator
from django.forms.renderers import TemplatesSetting
from django.utils.translation import gettext_lazy as _


class DesignsystemetBoundField(BoundField):
    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        widget = widget or self.field.widget
        if not isinstance(widget, RadioSelect):  # radio options are styled per <input> by the CSS
            attrs["class"] = f"{attrs.get('class', '')} ds-input".strip()
        if self.errors and self.auto_id:
            # Screen readers read the error with the field, not only the summary at the top.
            described_by = attrs.get("aria-describedby", "")
            attrs["aria-describedby"] = f"{described_by} {self.auto_id}_error".strip()
        return attrs


class _OneQueryChoices(ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:  # an ordinary query, not .iterator()
            yield self.choice(obj)


class OneQueryModelChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField whose options are read with one ordinary query.

    Django's reads them with `.iterator()`, on PostgreSQL a server-side cursor (DECLARE, FETCH, CLOSE: three
    round trips) — for a select of a few rows that is most of a dashboard form's cost (issue 15).
    """

    iterator = _OneQueryChoices


class DesignsystemetFormRenderer(TemplatesSetting):
    form_template_name = "forms/form.html"
    field_template_name = "forms/field.html"
    bound_field_class = DesignsystemetBoundField


class AuditFeedFilterForm(forms.Form):
    """The staff audit feed's filter (a GET form: every field optional)."""

    kind = forms.ChoiceField(label=_("Kind"), required=False)
    org_number = forms.CharField(
        label=_("Organisation number"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    hide_logins = forms.BooleanField(label=_("Hide logins"), required=False)

    def __init__(self, *args, **kwargs):
        from .audit import ACTION_GROUPS

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All kinds"))] + [
            (code, label) for code, (label, _p) in ACTION_GROUPS.items()
        ]

    def clean_org_number(self):
        from members import orgnr

        number = orgnr.normalise(self.cleaned_data["org_number"])
        if number:
            orgnr.validate_org_number(number)
        return number
