from django.conf import settings
from django.urls import include, path

from . import converters, views  # noqa: F401  (registers the orgnr path converter)
from .api.views import urls as api_urls

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/", api_urls()),
    path("medlem/<orgnr:org_number>/", views.member_dashboard, name="member_dashboard"),
    path("leverandor/<orgnr:org_number>/", views.vendor_dashboard, name="vendor_dashboard"),
    path("leverandor/<orgnr:org_number>/leietakere/status/", views.vendor_tenant_status, name="vendor_tenant_status"),
    path("kundesenter/", views.staff_dashboard, name="staff_dashboard"),
    path("kundesenter/logg/", views.staff_audit_feed, name="staff_audit_feed"),
    path("kundesenter/e-post/", views.staff_outgoing_mail, name="staff_outgoing_mail"),
    path("kundesenter/e-post/<uuid:message_id>/<str:decision>/", views.staff_mail_decide, name="staff_mail_decide"),
    path("", include("members.urls")),
    path("", include("orders.urls")),
    path("konto/", include("allauth.urls")),
    # The switch also stores the choice on the account (pages after a login, e-mails and PDFs follow it).
    path("i18n/setlang/", views.set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
]

# The bundled test ID-porten, for development and tests only (production refuses it: portal.checks).
if settings.TEST_IDPORTEN_ENABLED and not settings.IS_PRODUCTION:
    urlpatterns.append(path("test-idporten/", include("members.testidporten")))

handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
