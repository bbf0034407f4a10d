"""Look organisations up in Enhetsregisteret, Brønnøysund's Central Coordinating Register.

Registration checks an applicant against the register: what the organisation is (municipality,
health enterprise, private practice …), whether it still exists, and who may sign for it.

Two backends, chosen with ``ENHETSREGISTERET_BACKEND`` the way Django chooses ``EMAIL_BACKEND``:

- ``HttpBackend`` asks Brønnøysund's open API (``ENHETSREGISTERET_URL``). Production uses it.
- ``OfflineBackend`` (the default) reads ``ENHETSREGISTERET_DATA_FILE``, a JSON file shaped
  exactly like Brønnøysund's answers. The demo (``make run``) and the test suite use it: the
  public register knows none of the synthetic test organisations (numbers starting with 2 or 3)
  that NHN requires in test environments, and neither should depend on the network.

Both backends hand the same JSON to the same parsing functions, so the shape of Brønnøysund's
answers is handled (and tested) in one place.

Settings, all optional: ``ENHETSREGISTERET_BACKEND``, ``ENHETSREGISTERET_URL``,
``ENHETSREGISTERET_TIMEOUT`` (seconds), ``ENHETSREGISTERET_DATA_FILE``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from . import orgnr

DEFAULT_BACKEND = "members.enhetsregisteret.OfflineBackend"
DEFAULT_URL = "https://data.brreg.no"
DEFAULT_TIMEOUT = 5.0
API_PATH = "/enhetsregisteret/api"

# Brønnøysund's "Gone" for a deleted main unit; the body usually still carries slettedato.
HTTP_GONE = 410
HTTP_NOT_FOUND = 404

# Signature (SIFE) and procuration (POFE) held "fellesskap": two holders together sign.
JOINT_ROLE_CODES = frozenset({"SIFE", "POFE"})


@dataclass(frozen=True)
class RegistryRole:
    """A person's role in an organisation as registered (*rolle*), e.g. daglig leder."""

    code: str
    description: str
    person_name: str
    resigned: bool  # fratraadt
    birth_date: date | None = None  # person.fodselsdato; None for roles held by an organisation
    deceased: bool = False  # person.erDoed
    deregistered: bool = False  # avregistrert
    joint: bool = False  # a signature or procuration held jointly (SIFE, POFE): one holder alone cannot sign

    @property
    def in_office(self) -> bool:
        """Neither resigned nor deregistered, and held by a living person."""
        return not (self.resigned or self.deregistered or self.deceased)


@dataclass(frozen=True)
class RegistryEntity:
    """An organisation as Enhetsregisteret knows it: a main unit (*enhet*) or a sub-unit (*underenhet*)."""

    org_number: str
    name: str
    org_form_code: str
    org_form_description: str
    industry_codes: tuple[tuple[str, str], ...]
    sector_code: str
    municipality_number: str
    municipality_name: str
    address: str
    parent_org_number: str
    is_sub_unit: bool
    deleted_on: date | None
    bankrupt: bool
    under_liquidation: bool
    # Kept for staff to see what the register said; a dict cannot be hashed, so leave it out of hash().
    raw: dict = field(hash=False, repr=False)


class RegistryUnavailable(Exception):
    """Timeouts, connection errors, 5xx, malformed JSON: retrying later may help."""


# --- parsing: the one place that knows Brønnøysund's JSON -------------------------------------


def _code(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict):
        return "", ""
    return str(value.get("kode") or ""), str(value.get("beskrivelse") or "")


def _address(address: Any) -> str:
    if not isinstance(address, dict):
        return ""
    lines = [str(line).strip() for line in address.get("adresse") or [] if line and str(line).strip()]
    place = " ".join(str(part) for part in (address.get("postnummer"), address.get("poststed")) if part)
    parts = [*lines, place] if place else lines
    # Only foreign addresses need the country; every Norwegian one would otherwise end in "Norge".
    if address.get("landkode") not in (None, "", "NO") and address.get("land"):
        parts.append(str(address["land"]))
    return ", ".join(parts)


def _date(value: Any) -> date | None:
    return date.fromisoformat(value[:10]) if isinstance(value, str) and value else None


def parse_entity(record: Any, *, is_sub_unit: bool, org_number: str = "", gone: bool = False) -> RegistryEntity:
    """Turn one /enheter or /underenheter record into a RegistryEntity.

    ``gone`` is set when Brønnøysund answered 410: the unit is deleted even if the body is too
    thin to say when, in which case today is the latest the deletion can have happened.
    """
    if not isinstance(record, dict):
        raise RegistryUnavailable("Enhetsregisteret answered with JSON that is not an organisation record.")
    try:
        org_form_code, org_form_description = _code(record.get("organisasjonsform"))
        industry_codes = tuple(code for code in (_code(record.get(f"naeringskode{i}")) for i in (1, 2, 3)) if code[0])
        sector_code, _sector_description = _code(record.get("institusjonellSektorkode"))
        # Sub-units have a location (beliggenhetsadresse) rather than a business address.
        address = record.get("beliggenhetsadresse" if is_sub_unit else "forretningsadresse")
        if not isinstance(address, dict):
            address = record.get("forretningsadresse") or record.get("beliggenhetsadresse") or {}
        deleted_on = _date(record.get("slettedato"))
        if is_sub_unit and deleted_on is None:
            # A sub-unit that has closed down (nedlagt) is as closed as a deleted one.
            deleted_on = _date(record.get("nedleggelsesdato"))
        if gone and deleted_on is None:
            deleted_on = date.today()
        return RegistryEntity(
            org_number=str(record.get("organisasjonsnummer") or org_number),
            name=str(record.get("navn") or ""),
            org_form_code=org_form_code,
            org_form_description=org_form_description,
            industry_codes=industry_codes,
            sector_code=sector_code,
            municipality_number=str(address.get("kommunenummer") or "") if isinstance(address, dict) else "",
            municipality_name=str(address.get("kommune") or "") if isinstance(address, dict) else "",
            address=_address(address),
            parent_org_number=str(record.get("overordnetEnhet") or ""),
            is_sub_unit=is_sub_unit,
            deleted_on=deleted_on,
            bankrupt=bool(record.get("konkurs")),
            # Forced dissolution ends the organisation just as surely as voluntary liquidation.
            under_liquidation=bool(
                record.get("underAvvikling") or record.get("underTvangsavviklingEllerTvangsopplosning")
            ),
            raw=record,
        )
    except (AttributeError, TypeError, ValueError) as error:
        raise RegistryUnavailable(f"Enhetsregisteret answered with a malformed organisation record: {error}") from error


def _person_name(role: dict) -> str:
    person = role.get("person")
    if isinstance(person, dict):
        navn = person.get("navn") or {}
        return " ".join(str(navn[part]) for part in ("fornavn", "mellomnavn", "etternavn") if navn.get(part))
    # Some roles (auditor, accountant) are held by another organisation, whose name is a list of lines.
    enhet = role.get("enhet")
    if isinstance(enhet, dict):
        navn = enhet.get("navn")
        return " ".join(str(line) for line in navn) if isinstance(navn, list) else str(navn or "")
    return ""


def _person(role: dict) -> dict:
    person = role.get("person")
    return person if isinstance(person, dict) else {}


def parse_roles(document: Any) -> list[RegistryRole]:
    """Flatten /roller's ``rollegrupper[].roller[]`` into one list, in Brønnøysund's order."""
    if not isinstance(document, dict):
        raise RegistryUnavailable("Enhetsregisteret answered with JSON that is not a list of roles.")
    try:
        roles = []
        for group in document.get("rollegrupper") or []:
            for role in group.get("roller") or []:
                code, description = _code(role.get("type"))
                person = _person(role)
                roles.append(
                    RegistryRole(
                        code=code,
                        description=description,
                        person_name=_person_name(role),
                        resigned=bool(role.get("fratraadt")),
                        birth_date=_date(person.get("fodselsdato")),
                        deceased=bool(person.get("erDoed")),
                        deregistered=bool(role.get("avregistrert")),
                        joint=code in JOINT_ROLE_CODES,
                    )
                )
        return roles
    except (AttributeError, TypeError, ValueError) as error:
        raise RegistryUnavailable(f"Enhetsregisteret answered with a malformed list of roles: {error}") from error


def _valid_number(org_number: str) -> str | None:
    # Every number Brønnøysund has ever issued passes the check digit, so an invalid one is simply
    # unknown; checking first also keeps anything but nine digits out of the URL path.
    number = orgnr.normalise(org_number)
    return number if orgnr.has_valid_check_digit(number) else None


# --- backends ------------------------------------------------------------------------------------


class HttpBackend:
    """Brønnøysund's open API (no credentials needed)."""

    def __init__(self, *, base_url: str | None = None, timeout: float | None = None):
        self.base_url = (base_url or getattr(settings, "ENHETSREGISTERET_URL", DEFAULT_URL)).rstrip("/")
        self.timeout = float(
            timeout if timeout is not None else getattr(settings, "ENHETSREGISTERET_TIMEOUT", DEFAULT_TIMEOUT)
        )

    def _get(self, path: str) -> tuple[int, Any]:
        """GET one API path: (status, parsed JSON or None). Only 200, 404 and 410 come back."""
        url = f"{self.base_url}{API_PATH}{path}"
        try:
            with httpx.Client(timeout=self.timeout, headers={"Accept": "application/json"}) as client:
                response = client.get(url)
        except httpx.TimeoutException as error:
            raise RegistryUnavailable(f"Enhetsregisteret did not answer within {self.timeout:g} s ({url}).") from error
        except httpx.HTTPError as error:
            raise RegistryUnavailable(f"Could not reach Enhetsregisteret ({url}): {error}") from error

        status = response.status_code
        if status == HTTP_NOT_FOUND:
            return status, None
        if status >= 500:
            raise RegistryUnavailable(f"Enhetsregisteret answered {status} for {url}; try again later.")
        if status != HTTP_GONE and not 200 <= status < 300:
            # Not something waiting helps with, but the caller cannot tell the answer either way.
            raise RegistryUnavailable(
                f"Enhetsregisteret refused the request for {url} with {status}; "
                "the portal's request or ENHETSREGISTERET_URL is likely wrong."
            )
        try:
            return status, response.json()
        except ValueError as error:
            if status == HTTP_GONE:
                return status, None  # gone is the answer; the body only adds detail
            raise RegistryUnavailable(f"Enhetsregisteret answered {url} with something that is not JSON.") from error

    def lookup(self, org_number: str) -> RegistryEntity | None:
        number = _valid_number(org_number)
        if number is None:
            return None
        for collection, is_sub_unit in (("enheter", False), ("underenheter", True)):
            status, body = self._get(f"/{collection}/{number}")
            if status == HTTP_NOT_FOUND:
                continue
            if status == HTTP_GONE:
                record = body if isinstance(body, dict) else {}
                return parse_entity(record, is_sub_unit=is_sub_unit, org_number=number, gone=True)
            return parse_entity(body, is_sub_unit=is_sub_unit, org_number=number)
        return None

    def roles(self, org_number: str) -> list[RegistryRole]:
        number = _valid_number(org_number)
        if number is None:
            return []
        status, body = self._get(f"/enheter/{number}/roller")
        if status in (HTTP_NOT_FOUND, HTTP_GONE):
            return []
        return parse_roles(body)


class OfflineBackend:
    """Answers from a JSON file of Brønnøysund records: ``{"enheter", "underenheter", "roller"}``."""

    def __init__(self, *, data_file: str | Path | None = None):
        default = Path(settings.BASE_DIR) / "members" / "data" / "enhetsregisteret.json"
        self.data_file = Path(data_file or getattr(settings, "ENHETSREGISTERET_DATA_FILE", default))
        self._data: dict | None = None

    @property
    def data(self) -> dict:
        if self._data is None:
            try:
                self._data = json.loads(self.data_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise RegistryUnavailable(f"Cannot read the offline register {self.data_file}: {error}") from error
        return self._data

    def lookup(self, org_number: str) -> RegistryEntity | None:
        number = _valid_number(org_number)
        if number is None:
            return None
        for collection, is_sub_unit in (("enheter", False), ("underenheter", True)):
            record = self.data.get(collection, {}).get(number)
            if record is not None:
                return parse_entity(record, is_sub_unit=is_sub_unit, org_number=number)
        return None

    def roles(self, org_number: str) -> list[RegistryRole]:
        number = _valid_number(org_number)
        document = self.data.get("roller", {}).get(number) if number else None
        return [] if document is None else parse_roles(document)


def get_backend():
    """A new instance of the backend named in ``ENHETSREGISTERET_BACKEND``."""
    return import_string(getattr(settings, "ENHETSREGISTERET_BACKEND", DEFAULT_BACKEND))()


def lookup(org_number: str) -> RegistryEntity | None:
    """The organisation with this number, or None when the register does not know it.

    Raises RegistryUnavailable when the register cannot answer now.
    """
    return get_backend().lookup(org_number)


def roles(org_number: str) -> list[RegistryRole]:
    """Everyone registered with a role in the organisation (daglig leder, board, signature …)."""
    return get_backend().roles(org_number)
