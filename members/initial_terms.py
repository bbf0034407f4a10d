"""The first published terms, so a fresh portal can take signatures. NHN staff publish later versions.

Used by the data migration and by seed_demo (which puts them back after a `manage.py flush`).
"""

import hashlib
from datetime import UTC, datetime

IN_FORCE = datetime(2026, 1, 1, tzinfo=UTC)

MEMBERSHIP_BODY = """Disse vilkårene gjelder medlemskap i Helsenettet, det nasjonale helsenettet som Norsk helsenett SF (NHN) drifter. Vilkårene består av tre deler: medlemsvilkårene, databehandleravtalen og kundeavtalen. Den som signerer, bekrefter at virksomheten godtar alle tre.

1. Hvem kan være medlem
Medlemskap er for virksomheter som yter helsehjelp, forvalter helseregistre eller utøver statlig helseforvaltning. Hvert organisasjonsnummer må ha sitt eget medlemskap. En kommunes medlemskap omfatter kommunens egne helseenheter, som legekontor, sykehjem og helsestasjoner kommunen selv driver. Medlemskapet kan ikke overdras: en ny eier med nytt organisasjonsnummer må bli medlem på nytt.

2. Medlemmets plikter
Medlemmet skal følge Norm for informasjonssikkerhet og personvern i helse- og omsorgssektoren (Normen), sørge for at egne systemer og leverandører oppfyller kravene i vilkårene, og melde fra til NHN om sikkerhetshendelser som kan berøre Helsenettet.

3. Tjenester
Medlemmet bestiller tjenester i Helsenett Selvbetjening og godtar bruksvilkårene for hver tjeneste. En leverandør kan forberede en integrasjon, men ikke ta den i bruk i produksjon før medlemmets signaturberettigede har signert disse vilkårene og godtatt bruksvilkårene for tjenesten. Bestilling av NHNs tjenester medfører ingen kostnader.

4. Databehandleravtale
Medlemmet er behandlingsansvarlig for helseopplysningene det deler gjennom tjenestene. NHN er databehandler og behandler opplysningene bare etter medlemmets dokumenterte instrukser, med tilgangsstyring, logging og sikkerhetstiltak som beskrevet i tjenestebeskrivelsene. NHN bruker bare underleverandører som medlemmet er varslet om, og bistår medlemmet med å ivareta de registrertes rettigheter.

5. Kundeavtale
Kundeavtalen regulerer kontaktpunkter, varsling, endringer i tjenestene og opphør. Kundesenteret er medlemmets kontaktpunkt hos NHN.

6. Endringer
NHN kan publisere nye versjoner av vilkårene. Medlemmet må godta en ny versjon for å fortsette å bruke nye tjenester; inntil da vises «Nye vilkår må aksepteres» i portalen, og bestillinger til produksjon blir merket."""

VENDOR_BODY = """Disse vilkårene gjelder leverandører og samarbeidspartnere som integrerer systemene sine med tjenester på Helsenettet.

1. Hvem vilkårene gjelder
Leverandører av journalsystemer (EPJ), velferdsteknologi og digital hjemmeoppfølging, og samarbeidspartnere som utveksler helseopplysninger uten selv å yte helsehjelp.

2. Test og produksjon
Leverandøren kan forberede og teste en integrasjon mot en tjeneste i testmiljøet med syntetiske data. Integrasjonen kan ikke tas i bruk i produksjon for en kunde før kundens signaturberettigede har signert medlemsvilkårene og godtatt de nødvendige bruksvilkårene.

3. HelseID
Leverandøren autentiserer systemene sine med HelseID og private_key_jwt, med DPoP, og holder private nøkler under egen kontroll. NHN skal aldri motta en privat nøkkel.

4. Sikkerhet
Leverandøren følger Normen, melder fra om sikkerhetshendelser og retter feil i egne systemer. Feilmeldinger fra tjenestene håndteres i leverandørens egne systemer."""


def fingerprint(kind, service_code, version, title, body):
    # The same canonical form as TermsDocument.compute_sha256; it must never change, signatures rely on it.
    canonical = "\n".join([kind, service_code, version, title, body.replace("\r\n", "\n")])
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


DOCUMENTS = [
    (
        "membership",
        "",
        "2026.1",
        "Medlemsvilkår for Helsenettet med databehandleravtale og kundeavtale",
        MEMBERSHIP_BODY,
    ),
    ("vendor", "", "2.0", "Leverandørvilkår 2.0", VENDOR_BODY),
]


def ensure_initial_terms(terms_model) -> None:
    """Create the first versions if missing. Takes the model class, so the migration can pass its historical one."""
    for kind, service_code, version, title, body in DOCUMENTS:
        terms_model.objects.get_or_create(
            kind=kind,
            service_code=service_code,
            version=version,
            defaults={
                "title": title,
                "body": body,
                "effective_from": IN_FORCE,
                "published_at": IN_FORCE,
                "sha256": fingerprint(kind, service_code, version, title, body),
            },
        )
