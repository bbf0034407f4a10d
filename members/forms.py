from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.choices import Environment
from portal.forms import OneQueryModelChoiceField

from . import orgnr
from .models import Membership, Organisation, SystemKind, TermsDocument, VendorSystem
from .selectors import NO_MEMBERSHIP


class OrgNumberForm(forms.Form):
    org_number = forms.CharField(
        label=_("Organisation number"),
        help_text=_("9 digits, as in Enhetsregisteret. Test organisations have numbers starting with 2 or 3."),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )

    def clean_org_number(self):
        number = orgnr.normalise(self.cleaned_data["org_number"])
        orgnr.validate_org_number(number)
        return number


class VendorRegisterForm(OrgNumberForm):
    as_partner = forms.BooleanField(
        label=_("We are a partner (samarbeidspartner): we exchange health data but do not provide healthcare."),
        required=False,
    )


class SignForm(forms.Form):
    # The fingerprint of the text the signer was shown; the service refuses if it is no longer current.
    sha256 = forms.CharField(widget=forms.HiddenInput, max_length=64)
    confirm = forms.BooleanField(
        label=_("I have read the terms and accept them on behalf of the organisation."),
        error_messages={"required": _("Tick the box to confirm that you accept the terms.")},
    )


class SignatureRequestForm(forms.Form):
    recipient = forms.ChoiceField(label=_("Send the request to"))

    def __init__(self, *args, signatories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipient"].choices = [
            (str(u.pk), f"{u.get_full_name() or u.email} ({u.email})") for u in signatories
        ]


class DelegationForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address of the person who may sign"),
        help_text=_(
            "The delegation (fullmakt) is tied to the person who logs in with ID-porten with this address "
            "on their account, the first time they do."
        ),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )


class MembershipQueueFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("State"), required=False, choices=[("", _("All states")), *Membership.State.choices]
    )
    q = forms.CharField(label=_("Search"), required=False, help_text=_("Name or organisation number"))


class OrganisationDirectoryFilterForm(forms.Form):
    """NHN staff's filter of the organisation directory (a GET form: the filter is in the address)."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200, help_text=_("Name or organisation number"))
    kind = forms.ChoiceField(
        label=_("Type"), required=False, choices=[("", _("All types")), *Organisation.Kind.choices]
    )
    membership = forms.ChoiceField(
        label=_("Membership"),
        required=False,
        choices=[("", _("All states")), (NO_MEMBERSHIP, _("No membership")), *Membership.State.choices],
    )
    environment = forms.ChoiceField(
        label=_("Has orders in"), required=False, choices=[("", _("Any or none")), *Environment.choices]
    )
    needs_nhn = forms.BooleanField(label=_("Something waits for NHN"), required=False)

    def clean_q(self):
        return self.cleaned_data["q"].strip()


class TenantSearchForm(forms.Form):
    """The vendor dashboard's search in its tenant list."""

    q = forms.CharField(
        label=_("Find a municipality"), required=False, max_length=100, help_text=_("Name or organisation number")
    )


class TermsDocumentForm(forms.ModelForm):
    # The effective date is chosen when publishing (TermsPublishForm), not in the draft.
    class Meta:
        model = TermsDocument
        fields = ["kind", "service_code", "version", "title", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 16})}


class TermsPublishForm(forms.Form):
    # <input type="date"> takes ISO dates only, whatever the page's language.
    effective_on = forms.DateField(
        label=_("In force from"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_(
            "Until this day the signature on the version it replaces still counts; after it, production orders "
            "wait for the new signature. Today or later."
        ),
    )
    change_note = forms.CharField(
        label=_("What changed"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
        required=False,
        help_text=_("A short summary for the e-mail to the organisations' signatories and administrators."),
    )

    def __init__(self, *args, replaces=None, **kwargs):
        from .services.terms import default_effective_date

        super().__init__(*args, **kwargs)
        self.fields["effective_on"].initial = default_effective_date()
        # A new version of existing terms tells the members what changed; a first version has nobody to tell.
        self.fields["change_note"].required = replaces is not None


class VendorAssignmentForm(forms.Form):
    system = OneQueryModelChoiceField(label=_("System"), queryset=VendorSystem.objects.none())
    environment = forms.ChoiceField(label=_("Environment"), choices=Environment.choices)
    # <input type="date"> takes ISO dates only, whatever the page's language.
    starts_on = forms.DateField(
        label=_("In use from"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, systems=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = systems if systems is not None else VendorSystem.objects.none()
        self.fields["system"].label_from_instance = lambda s: f"{s.name} – {s.vendor.name} ({s.get_kind_display()})"
        self.fields["starts_on"].initial = timezone.localdate()


class VendorSystemForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Type"), choices=SystemKind.choices)
    product = forms.CharField(
        label=_("Product family"), max_length=100, required=False, help_text=_("For an EPJ: for example Epic.")
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label=_("Colleague's e-mail address"),
        help_text=_("The invitation goes to this address. It can be used once, by the person it was sent to."),
    )
    role = forms.ChoiceField(label=_("Role"), widget=forms.RadioSelect)

    def __init__(self, *args, roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = list(roles)
        if len(roles) == 1:
            self.fields["role"].initial = roles[0][0]


class CompleteAccountForm(forms.Form):
    email = forms.EmailField(
        label=_("Your work e-mail address"),
        help_text=_("The portal sends notices about your organisation's membership and orders here."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class ClaimConfirmationRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("The signatory's e-mail address"),
        help_text=_("They get a link, log in with ID-porten and confirm or refuse your application."),
    )


class ClaimDecisionForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("The applicant sees it."),
    )


class PersonNameForm(forms.Form):
    """First and last name of a local account: shown wherever the person is shown, never proof of authority."""

    first_name = forms.CharField(
        label=_("First name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        label=_("Last name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )

    def clean(self):
        data = super().clean()
        for field in ("first_name", "last_name"):
            if field in data:
                data[field] = " ".join(data[field].split())
                if not data[field]:
                    self.add_error(field, _("This field is required."))
        return data


class SignupNamesForm(PersonNameForm):
    """allauth's sign-up asks for the name too (ACCOUNT_SIGNUP_FORM_CLASS)."""

    field_order = ["first_name", "last_name", "email", "password1", "password2"]

    def signup(self, request, user):
        user.first_name = self.cleaned_data["first_name"]
        user.last_name = self.cleaned_data["last_name"]
        user.save(update_fields=["first_name", "last_name"])
