import re

import pytest
from django.forms.models import model_to_dict

from members.models import TermsDocument
from orders.catalogue import IN_FORCE, SERVICES, USAGE_TERMS, load_catalogue
from orders.models import Availability, Service

pytestmark = pytest.mark.django_db

CODES = [
    "vkp-journaling",
    "vkp-patient",
    "vkp-episodeofcare",
    "vkp-careplan",
    "vkp-allergyintolerance",
    "vkp-condition",
    "vkp-medicationstatement",
    "vkp-observation",
    "vkp-medicationdispense",
]
REMOVED_IDENTITY_SCOPES = {
    "helseid://scopes/identity/pid_pseudonym",
    "helseid://scopes/identity/assurance_level",
}
# <audience>/<scope>: the audience is everything before the first "/", and neither part is empty.
API_SCOPE = re.compile(r"^nhn:[^/\s]+/[^/\s]\S*$")


def all_scopes():
    return [
        (service.code, scope)
        for service in Service.objects.all()
        for scope in service.reader_scopes.split() + service.writer_scopes.split()
    ]


def snapshot():
    services = [model_to_dict(service) for service in Service.objects.order_by("code")]
    terms = list(TermsDocument.objects.filter(kind="usage").order_by("service_code", "version").values())
    return services, terms


def test_the_migration_loads_the_nine_vkp_services_in_roadmap_order():
    assert list(Service.objects.values_list("code", flat=True)) == CODES
    assert [service["code"] for service in SERVICES] == CODES


def test_catalogue_keys_are_the_service_fields():
    fields = {field.name for field in Service._meta.concrete_fields} - {"id", "is_listed"}
    for service in SERVICES:
        assert set(service) == fields, service["code"]


def test_journaling_is_available_in_test_and_production():
    journaling = Service.objects.get(code="vkp-journaling")
    assert journaling.is_available_in("test")
    assert journaling.is_available_in("prod")
    assert journaling.planned_for == ""


def test_what_is_not_available_says_when_it_is_planned():
    for service in Service.objects.all():
        fully_available = {service.test_availability, service.prod_availability} == {Availability.AVAILABLE}
        assert bool(service.planned_for) != fully_available, service.code


def test_only_the_epic_services_are_restricted_to_epic():
    restricted = dict(Service.objects.exclude(epj_restriction="").values_list("code", "epj_restriction"))
    assert restricted == {
        "vkp-allergyintolerance": "Epic",
        "vkp-condition": "Epic",
        "vkp-medicationstatement": "Epic",
    }


def test_no_vkp_service_is_only_for_public_organisations():
    assert not Service.objects.filter(requires_public_organisation=True).exists()


def test_journaling_gives_the_welfare_technology_writer_the_jft_scope():
    journaling = Service.objects.get(code="vkp-journaling")
    assert journaling.scopes_for("vft") == ["nhn:jft/api"]
    assert journaling.scopes_for("epj") == ["nhn:jft/api"]


def test_patient_is_written_by_the_epj_and_read_by_welfare_technology():
    patient = Service.objects.get(code="vkp-patient")
    assert patient.scopes_for("epj") == ["nhn:pit/api.write"]
    assert patient.scopes_for("vft") == ["nhn:pit/api.read"]


def test_measurements_and_dispensing_ride_in_journaling():
    for code in ("vkp-observation", "vkp-medicationdispense"):
        service = Service.objects.get(code=code)
        assert service.reader_scopes == service.writer_scopes == "nhn:jft/api"
    assert Service.objects.get(code="vkp-observation").scopes_for("dho") == ["nhn:jft/api"]


def test_every_service_has_published_usage_terms_in_force():
    for service in Service.objects.all():
        terms = TermsDocument.objects.current("usage", service.code)
        assert terms is not None, service.code
        assert terms.is_published
        assert terms.effective_from == IN_FORCE
        assert terms.sha256 == terms.compute_sha256()
        assert "ingen kostnader" in terms.body


def test_usage_terms_are_numbered_paragraphs_one_line_each():
    assert [code for code, *_ in USAGE_TERMS] == CODES
    for code, version, title, body in USAGE_TERMS:
        assert version == "1.0"
        assert title.startswith("Bruksvilkår for ")
        paragraphs = body.split("\n\n")
        assert 4 <= len(paragraphs) <= 6, code
        for number, paragraph in enumerate(paragraphs, start=1):
            assert paragraph.startswith(f"{number}. "), (code, number)
            assert "\n" not in paragraph, (code, number)


def test_no_removed_identity_scope_is_requested():
    scopes = all_scopes()
    assert scopes
    assert not {scope for _, scope in scopes} & REMOVED_IDENTITY_SCOPES


def test_every_scope_has_the_audience_slash_scope_shape():
    for code, scope in all_scopes():
        assert API_SCOPE.match(scope), (code, scope)


def test_loading_the_catalogue_again_changes_nothing():
    before = snapshot()
    service_count, terms_count = Service.objects.count(), TermsDocument.objects.count()

    load_catalogue(Service, TermsDocument)
    load_catalogue(Service, TermsDocument)

    assert snapshot() == before
    assert Service.objects.count() == service_count == len(SERVICES)
    assert TermsDocument.objects.count() == terms_count
