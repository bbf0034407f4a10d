# Fixtures imported from tests.brreg_server look like redefinitions to pyflakes when used as arguments.
# ruff: noqa: F811
import json
from datetime import date

import pytest

from members import enhetsregisteret
from members.enhetsregisteret import (
    HttpBackend,
    OfflineBackend,
    RegistryEntity,
    RegistryUnavailable,
)
from members.orgnr import validate_org_number
from tests.brreg_server import DATA_FILE, brreg_server, http_registry  # noqa: F401

DATA = json.loads(DATA_FILE.read_text(encoding="utf-8"))
ALL_NUMBERS = sorted({*DATA["enheter"], *DATA["underenheter"], *DATA["roller"]})

NORDVIK = "313231593"
FJORDHEIM = "310000000"
SJUKEHEIM = "320000122"
DELETED = "320000092"
HELSE_NORDVIK = "320000017"
UNKNOWN = "320000157"  # valid check digit, in no file


def _referenced_numbers(value):
    """Every organisation number anywhere in the data file, also inside records and roles."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("organisasjonsnummer", "overordnetEnhet") and isinstance(item, str):
                yield item
            yield from _referenced_numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced_numbers(item)


@pytest.mark.parametrize("number", sorted({*ALL_NUMBERS, *_referenced_numbers(DATA)}))
def test_every_org_number_in_the_data_file_is_valid(number):
    validate_org_number(number)


def test_the_data_file_is_keyed_by_the_records_own_numbers():
    for collection in ("enheter", "underenheter"):
        for number, record in DATA[collection].items():
            assert record["organisasjonsnummer"] == number


def test_unknown_number_is_really_unknown():
    assert UNKNOWN not in ALL_NUMBERS
    validate_org_number(UNKNOWN)


def test_offline_is_the_default_backend(settings):
    del settings.ENHETSREGISTERET_BACKEND
    assert isinstance(enhetsregisteret.get_backend(), OfflineBackend)


@pytest.mark.integration
class TestHttpBackend:
    def test_municipality_with_every_field(self, http_registry):
        entity = enhetsregisteret.lookup(NORDVIK)

        assert entity == RegistryEntity(
            org_number=NORDVIK,
            name="Testkommune Nordvik",
            org_form_code="KOMM",
            org_form_description="Kommune",
            industry_codes=(("84.110", "Generell offentlig administrasjon"),),
            sector_code="6500",
            municipality_number="1804",
            municipality_name="NORDVIK",
            address="Rådhusgata 1, 8006 NORDVIK",
            parent_org_number="",
            is_sub_unit=False,
            deleted_on=None,
            bankrupt=False,
            under_liquidation=False,
            raw=DATA["enheter"][NORDVIK],
        )
        assert http_registry.paths == [f"/enhetsregisteret/api/enheter/{NORDVIK}"]

    def test_lookup_accepts_the_number_as_people_type_it(self, http_registry):
        assert enhetsregisteret.lookup("313 231 593").org_number == NORDVIK

    def test_sub_unit_falls_back_to_underenheter(self, http_registry):
        entity = enhetsregisteret.lookup(SJUKEHEIM)

        assert entity.name == "Fjordheim sjukeheim"
        assert entity.is_sub_unit
        assert entity.parent_org_number == FJORDHEIM
        assert entity.org_form_code == "BEDR"
        assert entity.industry_codes == (("87.101", "Somatiske spesialsykehjem"),)
        assert entity.municipality_number == "4699"  # from beliggenhetsadresse
        assert entity.address == "Sjukeheimsvegen 3, 5999 FJORDHEIM"
        assert entity.sector_code == ""
        assert http_registry.paths == [
            f"/enhetsregisteret/api/enheter/{SJUKEHEIM}",
            f"/enhetsregisteret/api/underenheter/{SJUKEHEIM}",
        ]

    def test_unknown_number_is_none(self, http_registry):
        assert enhetsregisteret.lookup(UNKNOWN) is None
        assert len(http_registry.paths) == 2

    def test_invalid_number_is_none_without_asking(self, http_registry):
        assert enhetsregisteret.lookup("123456789") is None
        assert enhetsregisteret.lookup("../admin") is None
        assert http_registry.paths == []

    def test_deleted_main_unit_answers_410_and_comes_back_deleted(self, http_registry):
        entity = enhetsregisteret.lookup(DELETED)

        assert entity.deleted_on == date(2024, 6, 30)
        assert entity.name == "Nedlagt legekontor AS"
        assert not entity.is_sub_unit
        assert http_registry.paths == [f"/enhetsregisteret/api/enheter/{DELETED}"]

    def test_gone_with_brreg_minimal_body_is_deleted(self, http_registry):
        http_registry.data["enheter"][DELETED] = {"organisasjonsnummer": DELETED, "slettedato": "2023-01-02"}

        entity = enhetsregisteret.lookup(DELETED)

        assert (entity.org_number, entity.name, entity.deleted_on) == (DELETED, "", date(2023, 1, 2))

    def test_gone_without_a_date_is_deleted_today_at_the_latest(self, http_registry):
        http_registry.fail(status=410)

        assert enhetsregisteret.lookup(NORDVIK).deleted_on == date.today()

    def test_roles_are_flattened_with_full_names(self, http_registry):
        roles = enhetsregisteret.roles(HELSE_NORDVIK)

        assert [(r.code, r.description, r.person_name, r.resigned) for r in roles] == [
            ("DAGL", "Daglig leder/ adm.direktør", "Henrik Helse", False),
            ("LEDE", "Styrets leder", "Hanne Marie Styreleder", False),
            ("SIFE", "Signatur i fellesskap", "Hanne Marie Styreleder", False),
            ("SIFE", "Signatur i fellesskap", "Stein Styremedlem", False),
            ("MEDL", "Styremedlem", "Stein Styremedlem", False),
            ("MEDL", "Styremedlem", "Frode Fratrådt", True),
            ("SIGN", "Signatur", "Frode Fratrådt", True),
            ("REVI", "Revisor", "Syntetisk Revisjon AS", False),
        ]
        # Persons carry their birth date; a role held by an organisation has none.
        assert all(r.birth_date is not None for r in roles[:7]) and roles[7].birth_date is None
        assert not any(r.deceased or r.deregistered for r in roles)
        assert [r.code for r in roles if r.joint] == ["SIFE", "SIFE"]
        assert http_registry.paths == [f"/enhetsregisteret/api/enheter/{HELSE_NORDVIK}/roller"]

    def test_municipal_top_leader(self, http_registry):
        assert [(r.code, r.description, r.person_name, r.resigned) for r in enhetsregisteret.roles(NORDVIK)] == [
            ("DAGL", "Daglig leder/ adm.direktør", "Randi Rådmann", False)
        ]

    def test_roles_of_unknown_number_are_empty(self, http_registry):
        assert enhetsregisteret.roles(UNKNOWN) == []

    def test_server_error_is_unavailable(self, http_registry):
        http_registry.fail(status=500)
        with pytest.raises(RegistryUnavailable, match="500"):
            enhetsregisteret.lookup(NORDVIK)
        # The fault was for one request only: the next one works.
        assert enhetsregisteret.lookup(NORDVIK).name == "Testkommune Nordvik"

    def test_server_error_on_roles_is_unavailable(self, http_registry):
        http_registry.fail(status=503, org_number=NORDVIK, times=None)
        with pytest.raises(RegistryUnavailable, match="503"):
            enhetsregisteret.roles(NORDVIK)
        assert enhetsregisteret.roles(HELSE_NORDVIK)  # other numbers are unaffected

    def test_other_client_error_is_unavailable_with_a_clear_message(self, http_registry):
        http_registry.fail(status=400)
        with pytest.raises(RegistryUnavailable, match=r"refused the request .* 400"):
            enhetsregisteret.lookup(NORDVIK)

    def test_slow_answer_is_unavailable(self, http_registry):
        http_registry.slow()
        with pytest.raises(RegistryUnavailable, match=r"did not answer within 0\.5 s"):
            enhetsregisteret.lookup(NORDVIK)

    def test_non_json_answer_is_unavailable(self, http_registry):
        http_registry.garble(org_number=NORDVIK)
        with pytest.raises(RegistryUnavailable, match="not JSON"):
            enhetsregisteret.lookup(NORDVIK)

    def test_json_that_is_not_a_record_is_unavailable(self, http_registry):
        http_registry.data["enheter"][NORDVIK] = ["not", "a", "record"]
        with pytest.raises(RegistryUnavailable, match="not an organisation record"):
            enhetsregisteret.lookup(NORDVIK)

    def test_nothing_listening_is_unavailable(self, settings):
        settings.ENHETSREGISTERET_BACKEND = "members.enhetsregisteret.HttpBackend"
        settings.ENHETSREGISTERET_URL = "http://127.0.0.1:1"  # nothing listens on port 1
        with pytest.raises(RegistryUnavailable, match="Could not reach"):
            enhetsregisteret.lookup(NORDVIK)


@pytest.mark.integration
@pytest.mark.parametrize("number", ALL_NUMBERS)
def test_offline_backend_answers_exactly_like_the_http_backend(number, brreg_server):
    http = HttpBackend(base_url=brreg_server.url, timeout=2)
    offline = OfflineBackend(data_file=DATA_FILE)

    assert offline.lookup(number) == http.lookup(number)
    assert offline.roles(number) == http.roles(number)


def test_offline_backend_knows_nothing_else(settings):
    settings.ENHETSREGISTERET_BACKEND = "members.enhetsregisteret.OfflineBackend"
    assert enhetsregisteret.lookup(UNKNOWN) is None
    assert enhetsregisteret.roles(UNKNOWN) == []
    assert enhetsregisteret.lookup(NORDVIK).municipality_number == "1804"


def test_offline_backend_with_an_unreadable_file_is_unavailable(settings, tmp_path):
    settings.ENHETSREGISTERET_DATA_FILE = tmp_path / "missing.json"
    with pytest.raises(RegistryUnavailable, match="offline register"):
        OfflineBackend().lookup(NORDVIK)
