"""Who may become a member of Helsenettet, judged from an organisation's Enhetsregisteret record.

NHN's rule: only organisations that provide healthcare, health registries or state health
administration may be members. Enhetsregisteret has no "provides healthcare" flag, so the
assessment reads the organisation form, the institutional sector and the industry (NACE/SN)
codes, in this order:

1. Deleted, bankrupt or under liquidation (voluntary or forced): refused, whatever it does.
2. A municipality (KOMM): always eligible.
3. A municipality's own unit (a sub-unit or ORGL whose parent is a KOMM): covered by the
   municipality's membership, so it cannot apply separately (``covered_by`` is set).
4. A health registry (see ``REGISTRY_NAME`` below): HEALTH_REGISTRY.
5. Health administration (84.12) held by a public body: STATE_ADMINISTRATION.
6. Healthcare (86, 87, 88.1): HEALTH_ENTERPRISE from a public body with health-enterprise form or
   state sector, otherwise PRIVATE_PRACTICE (private practices with their own number need their
   own membership).
7. Anything else is refused, naming the industry found.

Health-registry rule: Enhetsregisteret has no code for "health registry", and the registries
(cancer registry, patient registry, quality registries …) are registered as health
administration (84.12) or research (72.1). So: a *public body* registered with 84.12 or 72.1
whose *name* contains "register"/"registre" is a health registry. A public research institute
without "register" in its name is refused; NHN's customer centre reviews every membership, so a
misfiled registry can still be let in by hand.

A sub-unit or ORGL whose parent is not a municipality is judged on its own industry, taking
public status from its parent (sub-units have no sector code of their own). The caller passes
the parent it looked up; ``assess`` refuses to guess when it is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from django.utils import formats
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from .enhetsregisteret import RegistryEntity
from .models import Organisation
from .orgnr import formatted

# NACE (SN2007/SN2025) prefixes, matched against the start of each of the entity's industry codes.
# 86 human health (hospitals, GPs, specialists, dentists, physiotherapy …); 87 residential care
# (nursing homes); 88.1 social work without accommodation for the elderly and disabled, i.e. home
# care. The rest of 88 (child day-care, social counselling) is not healthcare.
HEALTHCARE_PREFIXES = ("86.", "87.", "88.1")
# 84.12: regulation of health care, social services, education and culture (Helsedirektoratet & co.).
HEALTH_ADMINISTRATION_PREFIXES = ("84.12",)
# 72.1: research in natural sciences, incl. medicine; a registry only together with REGISTRY_NAME.
HEALTH_REGISTRY_PREFIXES = (*HEALTH_ADMINISTRATION_PREFIXES, "72.1")
REGISTRY_NAME = re.compile(r"regist(er|re)", re.IGNORECASE)

MUNICIPALITY_FORM = "KOMM"
# Organisasjonsformer of public bodies: municipality, county, the state and its units, state and
# health enterprises, municipal/county enterprises, inter-municipal companies.
PUBLIC_ORG_FORMS = frozenset({"KOMM", "FYLK", "STAT", "ORGL", "SF", "HF", "KF", "FKF", "IKS"})
# Institutional sectors: 6100 state administration, 6500 municipal administration.
PUBLIC_SECTORS = frozenset({"6100", "6500"})
# Who may hold state health administration: the state, its units, state enterprises, counties.
STATE_BODY_FORMS = frozenset({"STAT", "ORGL", "SF", "FYLK"})
# Healthcare from these is a health enterprise (helseforetak), not a private practice.
HEALTH_ENTERPRISE_FORMS = frozenset({"SF", "HF"})
HEALTH_ENTERPRISE_SECTORS = frozenset({"6100"})
# Units that belong to a parent's legal person and so share a municipal parent's membership.
UNIT_FORMS = frozenset({"ORGL"})


@dataclass(frozen=True)
class Eligibility:
    """Whether an organisation may become a member, and as what."""

    eligible: bool
    kind: str | None
    is_public: bool
    reason: str
    covered_by: str = ""


def _interpolate(message, **params):
    # gettext_lazy(...) % params would translate at once, in whatever language is active now;
    # this keeps the reason lazy so it renders in the reader's language.
    def render():
        values = {
            key: formats.date_format(value, "DATE_FORMAT") if isinstance(value, date) else value
            for key, value in params.items()
        }
        return str(message) % values

    return lazy(render, str)()


def _matches(entity: RegistryEntity, prefixes: tuple[str, ...]) -> bool:
    return any(code.startswith(prefixes) for code, _description in entity.industry_codes)


def _industries(entity: RegistryEntity) -> str:
    return "; ".join(f"{code} {description}".strip() for code, description in entity.industry_codes)


def _is_public(entity: RegistryEntity, parent: RegistryEntity | None) -> bool:
    if entity.org_form_code in PUBLIC_ORG_FORMS or entity.sector_code in PUBLIC_SECTORS:
        return True
    return parent is not None and _is_public(parent, None)


def _is_state_body(entity: RegistryEntity, parent: RegistryEntity | None) -> bool:
    for unit in (entity, parent):
        if unit is not None and (unit.org_form_code in STATE_BODY_FORMS or unit.sector_code in PUBLIC_SECTORS):
            return True
    return False


def _is_health_enterprise(entity: RegistryEntity, parent: RegistryEntity | None) -> bool:
    for unit in (entity, parent):
        if unit is not None and (
            unit.org_form_code in HEALTH_ENTERPRISE_FORMS or unit.sector_code in HEALTH_ENTERPRISE_SECTORS
        ):
            return True
    return False


def _refused(reason, *, is_public: bool, covered_by: str = "") -> Eligibility:
    return Eligibility(eligible=False, kind=None, is_public=is_public, reason=reason, covered_by=covered_by)


def _eligible(kind: str, reason, *, is_public: bool) -> Eligibility:
    return Eligibility(eligible=True, kind=kind, is_public=is_public, reason=reason)


def assess(entity: RegistryEntity, *, parent: RegistryEntity | None = None) -> Eligibility:
    """May ``entity`` become a member, and as which ``Organisation.Kind``?

    Pass ``parent`` (the entity ``entity.parent_org_number`` names) whenever that is set: a
    municipality's nursing home would otherwise look like an independent private practice.
    """
    if entity.parent_org_number and parent is None:
        raise ValueError(
            f"{entity.org_number} belongs to {entity.parent_org_number}; look the parent up and pass it as parent=."
        )
    if parent is not None and parent.org_number != entity.parent_org_number:
        raise ValueError(f"{parent.org_number} is not the parent of {entity.org_number}.")

    name = entity.name or formatted(entity.org_number)
    is_public = _is_public(entity, parent)

    if entity.deleted_on is not None:
        return _refused(
            _interpolate(
                _("%(name)s was deleted from Enhetsregisteret on %(date)s and cannot become a member."),
                name=name,
                date=entity.deleted_on,
            ),
            is_public=is_public,
        )
    if entity.bankrupt:
        return _refused(
            _interpolate(
                _("%(name)s is registered as bankrupt in Enhetsregisteret and cannot become a member."), name=name
            ),
            is_public=is_public,
        )
    if entity.under_liquidation:
        return _refused(
            _interpolate(
                _("%(name)s is being wound up according to Enhetsregisteret and cannot become a member."), name=name
            ),
            is_public=is_public,
        )

    if entity.org_form_code == MUNICIPALITY_FORM:
        return _eligible(
            Organisation.Kind.MUNICIPALITY,
            _interpolate(_("%(name)s is a municipality and may become a member."), name=name),
            is_public=True,
        )

    if (
        parent is not None
        and parent.org_form_code == MUNICIPALITY_FORM
        and (entity.is_sub_unit or entity.org_form_code in UNIT_FORMS)
    ):
        return _refused(
            _interpolate(
                _(
                    "%(name)s is one of %(municipality)s's own units and is covered by the municipality's "
                    "membership (organisation number %(number)s). It cannot apply separately: ask "
                    "%(municipality)s's administrator in the portal instead."
                ),
                name=name,
                municipality=parent.name,
                number=formatted(parent.org_number),
            ),
            is_public=True,
            covered_by=parent.org_number,
        )

    if is_public and _matches(entity, HEALTH_REGISTRY_PREFIXES) and REGISTRY_NAME.search(entity.name):
        return _eligible(
            Organisation.Kind.HEALTH_REGISTRY,
            _interpolate(_("%(name)s is a public health registry and may become a member."), name=name),
            is_public=True,
        )

    if _matches(entity, HEALTH_ADMINISTRATION_PREFIXES) and _is_state_body(entity, parent):
        return _eligible(
            Organisation.Kind.STATE_ADMINISTRATION,
            _interpolate(_("%(name)s is a public body in health administration and may become a member."), name=name),
            is_public=True,
        )

    if _matches(entity, HEALTHCARE_PREFIXES):
        if _is_health_enterprise(entity, parent):
            return _eligible(
                Organisation.Kind.HEALTH_ENTERPRISE,
                _interpolate(_("%(name)s is a public health enterprise and may become a member."), name=name),
                is_public=True,
            )
        return _eligible(
            Organisation.Kind.PRIVATE_PRACTICE,
            _interpolate(
                _(
                    "%(name)s provides healthcare (%(industry)s) and may become a member with its own "
                    "organisation number."
                ),
                name=name,
                industry=_industries(entity),
            ),
            is_public=is_public,
        )

    if not entity.industry_codes:
        return _refused(
            _interpolate(
                _(
                    "%(name)s is registered without an industry code in Enhetsregisteret. Only organisations "
                    "that provide healthcare, run a health registry or work in state health administration "
                    "may become members."
                ),
                name=name,
            ),
            is_public=is_public,
        )
    return _refused(
        _interpolate(
            _(
                "%(name)s is registered with industry %(industry)s in Enhetsregisteret. Only organisations that "
                "provide healthcare, run a health registry or work in state health administration may become "
                "members."
            ),
            name=name,
            industry=_industries(entity),
        ),
        is_public=is_public,
    )


def assess_vendor(entity: RegistryEntity, *, as_partner: bool = False) -> Eligibility:
    """May ``entity`` register as a vendor (or partner) of NHN? Any live main entity may; NHN then reviews it."""
    name = entity.name or formatted(entity.org_number)
    is_public = _is_public(entity, None)
    if entity.deleted_on is not None:
        return _refused(
            _interpolate(
                _("%(name)s was deleted from Enhetsregisteret on %(date)s."), name=name, date=entity.deleted_on
            ),
            is_public=is_public,
        )
    if entity.bankrupt or entity.under_liquidation:
        return _refused(
            _interpolate(_("%(name)s is bankrupt or being wound up according to Enhetsregisteret."), name=name),
            is_public=is_public,
        )
    if entity.is_sub_unit:
        return _refused(
            _interpolate(
                _("%(name)s is a sub-unit; register the main entity (%(number)s) instead."),
                name=name,
                number=formatted(entity.parent_org_number),
            ),
            is_public=is_public,
        )
    kind = Organisation.Kind.PARTNER if as_partner else Organisation.Kind.VENDOR
    return _eligible(
        kind,
        _interpolate(_("%(name)s can register; it then accepts the vendor terms and NHN reviews it."), name=name),
        is_public=is_public,
    )
