from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members import orgnr
from members.models import Organisation, VendorAssignment, VendorSystem
from portal.forms import OneQueryModelChoiceField

from .models import Environment, HelseIdClient


class ClientCreateForm(forms.Form):
    system = OneQueryModelChoiceField(label=gettext_lazy("System"), queryset=VendorSystem.objects.none())
    environment = forms.ChoiceField(label=gettext_lazy("Environment"), choices=Environment.choices)
    tenancy = forms.ChoiceField(
        label=gettext_lazy("Tenancy"), choices=HelseIdClient.Tenancy.choices, widget=forms.RadioSelect,
        initial=HelseIdClient.Tenancy.MULTI,
    )  # fmt: skip
    # The organisation number, not a list of every tenant: a vendor may have thousands.
    tenant = forms.CharField(
        label=gettext_lazy("Municipality's organisation number (single-tenant only)"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )

    def __init__(self, *args, vendor, **kwargs):
        super().__init__(*args, **kwargs)
        self.vendor = vendor
        # Each option is named "system (vendor)": the vendor comes with the systems, not a query per option.
        self.fields["system"].queryset = VendorSystem.objects.filter(vendor=vendor).select_related("vendor")

    def clean_tenant(self) -> Organisation | None:
        number = orgnr.normalise(self.cleaned_data["tenant"])
        if not number:
            return None
        orgnr.validate_org_number(number)
        tenant = Organisation.objects.filter(
            org_number=number,
            pk__in=VendorAssignment.objects.active().filter(system__vendor=self.vendor).values("organisation_id"),
        ).first()
        if tenant is None:
            raise ValidationError(_("No municipality with this number uses your systems."))
        return tenant


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
