from dataclasses import replace
from datetime import date

import pytest
from django.utils import translation

from members.eligibility import Eligibility, assess
from members.enhetsregisteret import OfflineBackend
from members.models import Organisation
from tests.brreg_server import DATA_FILE

Kind = Organisation.Kind
registry = OfflineBackend(data_file=DATA_FILE)


def _assess(number):
    entity = registry.lookup(number)
    parent = registry.lookup(entity.parent_org_number) if entity.parent_org_number else None
    return assess(entity, parent=parent)


# (org number, eligible, kind, is_public, covered_by, words the reason must contain)
CASES = [
    ("313231593", True, Kind.MUNICIPALITY, True, "", "Testkommune Nordvik is a municipality"),
    ("310000000", True, Kind.MUNICIPALITY, True, "", "municipality"),
    ("310000019", True, Kind.MUNICIPALITY, True, "", "municipality"),
    ("320000009", True, Kind.MUNICIPALITY, True, "", "Sjøvik kommune is a municipality"),
    ("958935420", True, Kind.MUNICIPALITY, True, "", "Oslo kommune"),
    ("964338531", True, Kind.MUNICIPALITY, True, "", "Bergen kommune"),
    ("320000017", True, Kind.HEALTH_ENTERPRISE, True, "", "public health enterprise"),
    ("320000025", True, Kind.PRIVATE_PRACTICE, False, "", "86.211 Allmenn legetjeneste"),
    ("320000033", True, Kind.PRIVATE_PRACTICE, False, "", "88.101"),  # home care
    ("320000130", True, Kind.PRIVATE_PRACTICE, False, "", "87.102 Somatiske sykehjem"),  # private nursing home
    ("320000041", True, Kind.STATE_ADMINISTRATION, True, "", "health administration"),
    ("320000068", True, Kind.HEALTH_REGISTRY, True, "", "health registry"),
    ("320000076", False, None, True, "", "industry 72.190"),  # research, not a registry
    ("320000084", False, None, False, "", "registered with industry 41.200 Oppføring av bygninger"),
    ("310000108", False, None, False, "", "62.010 Programmeringstjenester"),  # vendors are not members
    ("320000092", False, None, False, "", "was deleted from Enhetsregisteret"),
    ("320000106", False, None, False, "", "bankrupt"),
    ("320000114", False, None, False, "", "being wound up"),
    ("320000122", False, None, True, "310000000", "covered by the municipality's membership"),
]


@pytest.mark.parametrize(("number", "eligible", "kind", "is_public", "covered_by", "reason"), CASES)
def test_assessment_of_every_kind_of_organisation(number, eligible, kind, is_public, covered_by, reason):
    with translation.override("en"):
        result = _assess(number)

        assert (result.eligible, result.kind, result.is_public, result.covered_by) == (
            eligible,
            kind,
            is_public,
            covered_by,
        )
        assert reason in str(result.reason)


def test_every_entity_in_the_data_file_is_assessed():
    data_numbers = {*registry.data["enheter"], *registry.data["underenheter"]}
    assert {case[0] for case in CASES} | {"310000167", "310000205", "310000264"} == data_numbers


def test_municipal_unit_names_its_municipality():
    with translation.override("en"):
        reason = str(_assess("320000122").reason)
    assert "Fjordheim sjukeheim is one of Fjordheim kommune's own units" in reason
    assert "310 000 000" in reason


def test_deletion_reason_gives_the_date():
    with translation.override("en"):
        assert "30 June 2024" in str(_assess("320000092").reason)


def test_refusal_for_status_comes_before_the_health_activity():
    # Konkurs tannklinikk is a dentist (86.230): it would be eligible if it were not bankrupt.
    entity = registry.lookup("320000106")
    assert entity.industry_codes == (("86.230", "Tannhelsetjenester"),)
    assert not assess(entity).eligible


def test_sub_unit_without_its_parent_is_not_guessed():
    with pytest.raises(ValueError, match="310000000"):
        assess(registry.lookup("320000122"))


def test_the_wrong_parent_is_refused():
    with pytest.raises(ValueError, match="is not the parent"):
        assess(registry.lookup("320000122"), parent=registry.lookup("313231593"))


def test_sub_unit_of_a_private_company_is_judged_on_its_own_industry():
    sub_unit = registry.lookup("320000122")
    parent = registry.lookup("320000025")  # Fjordheim legesenter AS
    sub_unit = replace(sub_unit, parent_org_number=parent.org_number)

    result = assess(sub_unit, parent=parent)

    assert result == Eligibility(
        eligible=True, kind=Kind.PRIVATE_PRACTICE, is_public=False, reason=result.reason, covered_by=""
    )


def test_health_administration_needs_a_public_body():
    directorate = registry.lookup("320000041")
    private = replace(directorate, org_form_code="AS", sector_code="2100")

    result = assess(private)

    assert not result.eligible
    with translation.override("en"):
        assert "84.120" in str(result.reason)


def test_reason_is_translated_when_rendered():
    result = _assess("313231593")
    with translation.override("nb"):
        bokmal = str(result.reason)
    with translation.override("en"):
        english = str(result.reason)
    assert english == "Testkommune Nordvik is a municipality and may become a member."
    assert "Testkommune Nordvik" in bokmal  # the catalogue may not have the string yet


def test_entity_without_industry_is_refused():
    entity = registry.lookup("320000084")
    bare = replace(entity, industry_codes=(), deleted_on=None)
    with translation.override("en"):
        assert "without an industry code" in str(assess(bare).reason)


def test_a_deleted_practice_is_refused():
    entity = registry.lookup("320000025")
    assert entity.deleted_on is None
    deleted = replace(entity, deleted_on=date(2025, 1, 1))
    assert assess(entity).eligible
    assert not assess(deleted).eligible
