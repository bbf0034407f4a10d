from django.conf import settings
from django.urls import path

import portal.converters  # noqa: F401  (the orgnr path converter)

from . import oidc, views

# One URL prefix per provider the portal knows; a provider that is not configured answers 404.
oidc_urlpatterns = [
    pattern
    for name in settings.OIDC_PROVIDER_DEFAULTS
    for pattern in (
        path(f"innlogging/{name}/", oidc.AuthenticationRequestView.as_view(provider=name), name=f"oidc_login_{name}"),
        path(
            f"innlogging/{name}/callback/",
            oidc.AuthenticationCallbackView.as_view(provider=name),
            name=f"oidc_callback_{name}",
        ),
        path(
            f"innlogging/{name}/backchannel-logout/",
            oidc.backchannel_logout,
            {"provider": name},
            name=f"oidc_backchannel_logout_{name}",
        ),
    )
]

urlpatterns = [
    *oidc_urlpatterns,
    path("innlogging/fullfor/", views.oidc_complete, name="oidc_complete"),
    path("innlogging/metoder/", views.login_methods, name="login_methods"),
    path("innlogging/idporten/hoyt-niva/", views.authority_stepup, name="authority_stepup"),
    path("konto/profil/", views.account_profile, name="account_profile"),
    path("innlogging/logg-ut/", oidc.LogoutView.as_view(), name="oidc_logout"),
    path("innlogging/logget-ut/", oidc.logged_out, name="oidc_logged_out"),
    path("invitasjon/<str:token>/", views.invitation_landing, name="invitation_landing"),
    path("medlemskap/<orgnr:org_number>/personer/", views.organisation_people, name="organisation_people"),
    path(
        "medlemskap/<orgnr:org_number>/personer/invitasjon/<uuid:invitation_id>/trekk-tilbake/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("medlemskap/registrer/", views.membership_register, name="membership_register"),
    path("leverandor/registrer/", views.vendor_register, name="vendor_register"),
    path("medlemskap/registrer/spor-administratorene/", views.claim_ask_admins, name="claim_ask_admins"),
    path("soknad/<uuid:claim_id>/", views.claim_detail, name="claim_detail"),
    path("soknad/<uuid:claim_id>/bekreft-selv/", views.claim_confirm_self, name="claim_confirm_self"),
    path("soknad/bekreft/<str:token>/", views.claim_confirm, name="claim_confirm"),
    path("kundesenter/soknader/", views.staff_claim_queue, name="staff_claim_queue"),
    path("kundesenter/soknader/<uuid:claim_id>/<str:decision>/", views.staff_claim_decide, name="staff_claim_decide"),
    path("medlemskap/kvittering/<uuid:acceptance_id>/", views.acceptance_receipt, name="acceptance_receipt"),
    path("medlemskap/<orgnr:org_number>/", views.membership_detail, name="membership_detail"),
    path("virksomhet/<orgnr:org_number>/", views.organisation_lifecycle, name="organisation_lifecycle"),
    path("medlemskap/<orgnr:org_number>/historikk/", views.organisation_history, name="organisation_history"),
    path("medlemskap/<orgnr:org_number>/fullmakt/", views.delegation_create, name="delegation_create"),
    path("medlemskap/<orgnr:org_number>/vilkar/<uuid:document_id>/", views.terms_sign, name="terms_sign"),
    path(
        "medlemskap/<orgnr:org_number>/vilkar/<uuid:document_id>/be-om-signatur/",
        views.signature_request,
        name="signature_request",
    ),
    path("medlem/<orgnr:org_number>/systemer/", views.assignment_create, name="assignment_create"),
    path(
        "medlem/<orgnr:org_number>/systemer/<uuid:assignment_id>/avslutt/", views.assignment_end, name="assignment_end"
    ),
    path("leverandor/<orgnr:org_number>/systemer/", views.vendor_system_create, name="vendor_system_create"),
    path(
        "leverandor/<orgnr:org_number>/systemer/<uuid:system_id>/tjenester/",
        views.vendor_system_services,
        name="vendor_system_services",
    ),
    path("kundesenter/virksomheter/", views.staff_organisation_directory, name="staff_organisation_directory"),
    path("kundesenter/medlemskap/", views.staff_membership_queue, name="staff_membership_queue"),
    path("kundesenter/medlemskap/<uuid:membership_id>/", views.staff_membership_detail, name="staff_membership_detail"),
    path(
        "kundesenter/medlemskap/<uuid:membership_id>/<str:decision>/",
        views.staff_membership_decide,
        name="staff_membership_decide",
    ),
    path("kundesenter/vilkar/", views.staff_terms_list, name="staff_terms_list"),
    path("kundesenter/vilkar/ny/", views.staff_terms_create, name="staff_terms_create"),
    path("kundesenter/vilkar/<uuid:document_id>/", views.staff_terms_detail, name="staff_terms_detail"),
]
