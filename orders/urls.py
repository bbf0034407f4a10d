from django.urls import path

import portal.converters  # noqa: F401  (the orgnr path converter)

from . import views

urlpatterns = [
    path("bestillinger/ordre/<uuid:order_id>/", views.order_detail, name="order_detail"),
    path("bestillinger/ordre/<uuid:order_id>/kanseller/", views.order_cancel, name="order_cancel"),
    path("bestillinger/<orgnr:org_number>/", views.catalogue, name="catalogue"),
    path("bestillinger/<orgnr:org_number>/legg-til/", views.basket_add, name="basket_add"),
    path("bestillinger/<orgnr:org_number>/fjern/<uuid:order_id>/", views.basket_remove, name="basket_remove"),
    path("bestillinger/<orgnr:org_number>/send/", views.basket_submit, name="basket_submit"),
    path(
        "bestillinger/<orgnr:org_number>/<str:environment>/bekreftelse.pdf",
        views.order_confirmation,
        name="order_confirmation",
    ),
    path("leverandor/<orgnr:org_number>/klienter/ny/", views.client_create, name="client_create"),
    path("klienter/<uuid:client_id>/", views.client_detail, name="client_detail"),
    path("klienter/<uuid:client_id>/konfigurasjon.json", views.client_configuration, name="client_configuration"),
    path("klienter/<uuid:client_id>/ark.pdf", views.client_sheet, name="client_sheet"),
    path(
        "klienter/<uuid:client_id>/nokler/<uuid:key_id>/pensjoner/", views.client_key_retire, name="client_key_retire"
    ),
    path("kundesenter/bestillinger/", views.staff_order_queue, name="staff_order_queue"),
    path("klienter/<uuid:client_id>/deaktiver/", views.client_disable, name="client_disable"),
    path("kundesenter/provisjonering/", views.staff_provisioning_failures, name="staff_provisioning_failures"),
    path(
        "kundesenter/provisjonering/<uuid:task_id>/<str:decision>/", views.staff_task_decide, name="staff_task_decide"
    ),
    path("kundesenter/tjenester/", views.staff_service_list, name="staff_service_list"),
    path("kundesenter/tjenester/<slug:code>/", views.staff_service_edit, name="staff_service_edit"),
    path("kundesenter/bestillinger/godkjenn-test/", views.staff_orders_bulk_approve, name="staff_orders_bulk_approve"),
    path("kundesenter/massegodkjenning/", views.staff_bulk_approval_start, name="staff_bulk_approval_start"),
    path("kundesenter/massegodkjenning/<uuid:job_id>/", views.staff_bulk_approval_job, name="staff_bulk_approval_job"),
    path("kundesenter/avstemming/", views.staff_reconciliation, name="staff_reconciliation"),
    path("kundesenter/avstemming/kjor/", views.staff_reconciliation_request, name="staff_reconciliation_request"),
    path("kundesenter/avstemming/<uuid:run_id>/", views.staff_reconciliation_run, name="staff_reconciliation_run"),
    path(
        "kundesenter/avstemming/funn/<uuid:finding_id>/<str:decision>/",
        views.staff_finding_decide,
        name="staff_finding_decide",
    ),
    path(
        "kundesenter/bestillinger/<uuid:order_id>/<str:decision>/", views.staff_order_decide, name="staff_order_decide"
    ),
]
