from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.models import Organisation, VendorAssignment, VendorSystem

from .models import Environment, HelseIdClient


class ClientCreateForm(forms.Form):
    system = forms.ModelChoiceField(label=gettext_lazy("System"), queryset=VendorSystem.objects.none())
    environment = forms.ChoiceField(label=gettext_lazy("Environment"), choices=Environment.choices)
    tenancy = forms.ChoiceField(
        label=gettext_lazy("Tenancy"), choices=HelseIdClient.Tenancy.choices, widget=forms.RadioSelect,
        initial=HelseIdClient.Tenancy.MULTI,
    )  # fmt: skip
    tenant = forms.ModelChoiceField(
        label=gettext_lazy("Municipality (single-tenant only)"), queryset=Organisation.objects.none(), required=False
    )

    def __init__(self, *args, vendor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = VendorSystem.objects.filter(vendor=vendor)
        self.fields["tenant"].queryset = Organisation.objects.filter(
            pk__in=VendorAssignment.objects.active().filter(system__vendor=vendor).values("organisation_id")
        )


class KeyUploadForm(forms.Form):
    keys = forms.CharField(
        label=gettext_lazy("Public key (JWK or JWKS)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
        help_text=gettext_lazy("Paste the public key only. Never paste a private key."),
    )
    jwks_url = forms.URLField(label=gettext_lazy("…or the address of your JWKS"), required=False, assume_scheme="https")
    expires_on = forms.DateField(
        label=gettext_lazy("Key expires"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self):
        data = super().clean()
        if bool(data.get("keys", "").strip()) == bool(data.get("jwks_url")):
            raise ValidationError(_("Paste a public key or give a JWKS address (one of them)."))
        return data


class ClientTenantSearchForm(forms.Form):
    """The search over a client's tenants (a GET filter on the client's page)."""

    q = forms.CharField(
        label=gettext_lazy("Find a municipality"),
        required=False,
        max_length=100,
        help_text=gettext_lazy("Name or organisation number"),
    )
