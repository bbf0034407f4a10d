"""Every Django form in the portal renders with Designsystemet markup.

Django 5.2 lets the renderer choose the BoundField class, so widgets get their ``ds-input``
class and their error description here once, instead of in every form (allauth's included).
"""

from django.forms import BoundField, RadioSelect
from django.forms.renderers import TemplatesSetting


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


class DesignsystemetFormRenderer(TemplatesSetting):
    form_template_name = "forms/form.html"
    field_template_name = "forms/field.html"
    bound_field_class = DesignsystemetBoundField
