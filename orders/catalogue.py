"""The VKP information services in the catalogue and their first usage terms (*bruksvilkår*).

Plain data so a data migration can load it into historical models; NHN staff edit the rows afterwards
(scopes for the unpublished services in particular). Source: NHN's tentative roadmap (seed 000) and
the public HelseID facts in HELSEID.md.
"""

from datetime import UTC, datetime

from members.initial_terms import fingerprint

IN_FORCE = datetime(2026, 1, 1, tzinfo=UTC)

# Sides follow NHN's roadmap table (epj, vft, dho). Availability is as of late 2026: Journaling is in
# production; the roadmap's Q2 services are in test, the Q3 ones are still planned.
# Scopes: Journaling (nhn:jft/api) and Patient (nhn:pit/api.read|write) are published. The others are not
# published yet and are catalogue data shaped nhn:<short>/api.read|write until NHN publishes them.
# Observation and MedicationDispense ride in Journaling's Bundle, so they use Journaling's scope.
# requires_public_organisation is False for every VKP service; services such as the core patient record
# (Kjernejournal) or personal data with confidential addresses would be True.
SERVICES = [
    {
        "code": "vkp-journaling",
        "name_nb": "Journalføring",
        "name_en": "Journaling",
        "description_nb": (
            "Velferdsteknologi og responssentre sender journalnotater, målinger, varsler og utleveringer fra "
            "medisindispensere til Journalføringstjenesten. Kommunens journalsystem (EPJ) henter dem, journalfører "
            "dem og kvitterer når de er journalført. Tjenesten er den første av de nye informasjonstjenestene som "
            "erstatter VKP."
        ),
        "description_en": (
            "Welfare-technology systems and response centres send journal entries, measurements, alerts and "
            "dispensing events from medicine dispensers to the Journaling service. The municipality's patient record "
            "system (EPJ) fetches them, journals them and acknowledges them once journaled. It is the first of the "
            "new information services that replace VKP."
        ),
        "read_by": "epj",
        "written_by": "vft,dho",
        "epj_restriction": "",
        "test_availability": "available",
        "prod_availability": "available",
        "planned_for": "",
        "requires_public_organisation": False,
        "reader_scopes": "nhn:jft/api",
        "writer_scopes": "nhn:jft/api",
        "sort_order": 10,
    },
    {
        "code": "vkp-patient",
        "name_nb": "Pasientinformasjon",
        "name_en": "Patient",
        "description_nb": (
            "Kommunens journalsystem (EPJ) deler opplysninger om pasienten, som navn og fødselsnummer, med "
            "velferdsteknologisystemene kommunen bruker. Da slipper de ansatte å registrere pasienten på nytt i hvert "
            "system, og opplysningene holdes oppdatert fra journalen."
        ),
        "description_en": (
            "The municipality's patient record system (EPJ) shares information about the patient, such as name and "
            "national identity number, with the welfare-technology systems the municipality uses. Staff no longer "
            "register the patient again in every system, and the information stays up to date from the record."
        ),
        "read_by": "vft",
        "written_by": "epj",
        "epj_restriction": "",
        "test_availability": "available",
        "prod_availability": "planned",
        "planned_for": "2027 Q1",
        "requires_public_organisation": False,
        "reader_scopes": "nhn:pit/api.read",
        "writer_scopes": "nhn:pit/api.write",
        "sort_order": 20,
    },
    {
        "code": "vkp-episodeofcare",
        "name_nb": "Kommunale tjenester",
        "name_en": "EpisodeOfCare",
        "description_nb": (
            "Kommunens journalsystem (EPJ) deler hvilke kommunale helse- og omsorgstjenester pasienten er tildelt, "
            "for eksempel hjemmesykepleie eller trygghetsalarm. Velferdsteknologisystemene leser dem, slik at de vet "
            "hvilke pasienter de skal følge opp for kommunen."
        ),
        "description_en": (
            "The municipality's patient record system (EPJ) shares which municipal health and care services the "
            "patient has been assigned, such as home nursing or a safety alarm. Welfare-technology systems read them, "
            "so they know which patients they follow up for the municipality."
        ),
        "read_by": "vft",
        "written_by": "epj",
        "epj_restriction": "",
        "test_availability": "available",
        "prod_availability": "planned",
        "planned_for": "2027 Q1",
        "requires_public_organisation": False,
        "reader_scopes": "nhn:eoc/api.read",
        "writer_scopes": "nhn:eoc/api.write",
        "sort_order": 30,
    },
    {
        "code": "vkp-careplan",
        "name_nb": "Besøksplan",
        "name_en": "CarePlan",
        "description_nb": (
            "Kommunens journalsystem (EPJ) deler pasientens besøksplan: når hjemmetjenesten skal komme. "
            "Velferdsteknologisystemene, for eksempel digitalt tilsyn og responssentre, leser planen, slik at de vet "
            "når et besøk er ventet."
        ),
        "description_en": (
            "The municipality's patient record system (EPJ) shares the patient's visit plan: when the home-care "
            "service is due to come. Welfare-technology systems, such as digital supervision and response centres, "
            "read the plan, so they know when a visit is expected."
        ),
        "read_by": "vft",
        "written_by": "epj",
        "epj_restriction": "",
        "test_availability": "available",
        "prod_availability": "planned",
        "planned_for": "2027 Q1",
        "requires_public_organisation": False,
        "reader_scopes": "nhn:careplan/api.read",
        "writer_scopes": "nhn:careplan/api.write",
        "sort_order": 40,
    },
    {
        "code": "vkp-allergyintolerance",
        "name_nb": "Allergier og intoleranser",
        "name_en": "AllergyIntolerance",
        "description_nb": (
            "Kommunens journalsystem (EPJ) deler pasientens registrerte allergier og intoleranser med "
            "velferdsteknologisystemene kommunen bruker. Foreløpig kan bare Epic (Helseplattformen) levere "
            "opplysningene, så tjenesten er til nytte bare for kommuner som bruker Epic."
        ),
        "description_en": (
            "The municipality's patient record system (EPJ) shares the patient's recorded allergies and intolerances "
            "with the welfare-technology systems the municipality uses. For now only Epic (Helseplattformen) can "
            "provide them, so the service is only of use to municipalities that use Epic."
        ),
        "read_by": "vft",
        "written_by": "epj",
        "epj_restriction": "Epic",
        "test_availability": "planned",
        "prod_availability": "planned",
        "planned_for": "2027 Q2",
        "requires_public_organisation": False,
        "reader_scopes": "nhn:allergy/api.read",
        "writer_scopes": "nhn:allergy/api.write",
        "sort_order": 50,
    },
    {
        "code": "vkp-condition",
        "name_nb": "Diagnoser",
        "name_en": "Condition",
        "description_nb": (
            "Velferdsteknologisystemene kommunen bruker, kan søke opp pasientens diagnoser i kommunens journalsystem "
            "(EPJ). Foreløpig kan bare Epic (Helseplattformen) levere diagnosene, så tjenesten er til nytte bare for "
            "kommuner som bruker Epic."
        ),
        "description_en": (
            "The welfare-technology systems the municipality uses can search the patient's diagnoses in the "
            "municipality's patient record system (EPJ). For now only Epic (Helseplattformen) can provide them, so "
            "the service is only of use to municipalities that use Epic."
        ),
        "read_by": "vft",
        "written_by": "epj",
        "epj_restriction": "Epic",
        "test_availability": "planned",
        "prod_availability": "planned",
        "planned_for": "2027 Q2",
        "requires_public_organisation": False,
        "reader_scopes": "nhn:condition/api.read",
        "writer_scopes": "nhn:condition/api.write",
        "sort_order": 60,
    },
    {
        "code": "vkp-medicationstatement",
        "name_nb": "Legemiddelliste",
        "name_en": "MedicationStatement",
        "description_nb": (
            "Kommunens journalsystem (EPJ) deler pasientens legemiddelliste med velferdsteknologisystemene kommunen "
            "bruker, for eksempel medisindispensere, slik at de arbeider ut fra den samme listen som journalen. "
            "Foreløpig kan bare Epic (Helseplattformen) levere listen."
        ),
        "description_en": (
            "The municipality's patient record system (EPJ) shares the patient's medication list with the "
            "welfare-technology systems the municipality uses, such as medicine dispensers, so they work from the "
            "same list as the record. For now only Epic (Helseplattformen) can provide it."
        ),
        "read_by": "vft",
        "written_by": "epj",
        "epj_restriction": "Epic",
        "test_availability": "planned",
        "prod_availability": "planned",
        "planned_for": "2027 Q2",
        "requires_public_organisation": False,
        "reader_scopes": "nhn:medstatement/api.read",
        "writer_scopes": "nhn:medstatement/api.write",
        "sort_order": 70,
    },
    {
        "code": "vkp-observation",
        "name_nb": "Målinger",
        "name_en": "Observation",
        "description_nb": (
            "Velferdsteknologi og digital hjemmeoppfølging sender målinger, som blodtrykk, puls, oksygenmetning og "
            "vekt, som kommunens journalsystem (EPJ) henter og journalfører. Målingene sendes inne i "
            "Journalføringstjenestens Bundle, med samme integrasjon og tilgang som Journalføring."
        ),
        "description_en": (
            "Welfare technology and digital home follow-up send measurements, such as blood pressure, pulse, oxygen "
            "saturation and weight, which the municipality's patient record system (EPJ) fetches and journals. The "
            "measurements travel inside the Journaling service's Bundle, with the same integration and access as "
            "Journaling."
        ),
        "read_by": "epj",
        "written_by": "vft,dho",
        "epj_restriction": "",
        "test_availability": "available",
        "prod_availability": "planned",
        "planned_for": "2027 Q1",
        "requires_public_organisation": False,
        "reader_scopes": "nhn:jft/api",
        "writer_scopes": "nhn:jft/api",
        "sort_order": 80,
    },
    {
        "code": "vkp-medicationdispense",
        "name_nb": "Utlevering av legemidler",
        "name_en": "MedicationDispense",
        "description_nb": (
            "Medisindispensere melder hver vellykkede utlevering av legemidler, og kommunens journalsystem (EPJ) "
            "henter og journalfører meldingen. Utleveringene sendes inne i Journalføringstjenestens Bundle, med samme "
            "integrasjon og tilgang som Journalføring."
        ),
        "description_en": (
            "Medicine dispensers report every successful dispensing of medication, and the municipality's patient "
            "record system (EPJ) fetches and journals the report. The dispensing events travel inside the Journaling "
            "service's Bundle, with the same integration and access as Journaling."
        ),
        "read_by": "epj",
        "written_by": "vft",
        "epj_restriction": "",
        "test_availability": "planned",
        "prod_availability": "planned",
        "planned_for": "2027 Q2",
        "requires_public_organisation": False,
        "reader_scopes": "nhn:jft/api",
        "writer_scopes": "nhn:jft/api",
        "sort_order": 90,
    },
]

# (service_code, version, title, body). The body is plain text, one paragraph a line, blank lines between.
# The text is what a signatory accepts and the SHA-256 covers it: never edit a published version, add a new one.
USAGE_TERMS = [
    (
        "vkp-journaling",
        "1.0",
        "Bruksvilkår for Journalføringstjenesten",
        (
            "1. Formål: Journalføringstjenesten lar velferdsteknologi- og responssentersystemer sende journalnotater, "
            "målinger, varsler, tilsynshendelser og skjemasvar om medlemmets pasienter, slik at medlemmets "
            "journalsystem (EPJ) kan hente dem, journalføre dem og kvittere når de er journalført.\n\n"
            "2. Behandlingsansvar: Medlemmet er behandlingsansvarlig for helseopplysningene som deles gjennom "
            "tjenesten. NHN er databehandler etter databehandleravtalen i medlemsvilkårene og behandler opplysningene "
            "bare for å levere tjenesten.\n\n"
            "3. Hvem kan bruke tjenesten: Bare systemer som medlemmet har registrert for tjenesten i Helsenett "
            "Selvbetjening, og som autentiserer seg med HelseID og DPoP på vegne av medlemmet, kan bruke den. "
            "Velferdsteknologisystemene sender opplysningene; journalsystemet henter dem og kvitterer for dem. Feil "
            "håndteres i leverandørenes egne systemer ut fra feilmeldingene tjenesten gir.\n\n"
            "4. Test og produksjon: I testmiljøet skal det bare brukes syntetiske data og syntetiske virksomheter "
            "(organisasjonsnummer som begynner på 2 eller 3), aldri opplysninger om virkelige personer. Tjenesten tas "
            "i bruk i produksjon først når medlemmets signaturberettigede har signert medlemsvilkårene og godtatt "
            "disse bruksvilkårene.\n\n"
            "5. Logging og tilgangsstyring: NHN logger hvert kall til tjenesten med system, virksomhet og tidspunkt. "
            "Medlemmet sørger for at mottatte opplysninger journalføres, og for tilgangsstyring i egne systemer, slik "
            "at bare personell med tjenstlig behov ser opplysningene.\n\n"
            "6. Kostnader: Bestilling av tjenesten medfører ingen kostnader for medlemmet."
        ),
    ),
    (
        "vkp-patient",
        "1.0",
        "Bruksvilkår for Pasientinformasjonstjenesten",
        (
            "1. Formål: Pasientinformasjonstjenesten lar medlemmets journalsystem (EPJ) dele opplysninger om "
            "pasienten, som navn og fødselsnummer, med velferdsteknologisystemene medlemmet bruker, slik at "
            "opplysningene ikke må registreres på nytt i hvert system.\n\n"
            "2. Behandlingsansvar: Medlemmet er behandlingsansvarlig for pasientopplysningene som deles gjennom "
            "tjenesten. NHN er databehandler etter databehandleravtalen i medlemsvilkårene og behandler opplysningene "
            "bare for å levere tjenesten.\n\n"
            "3. Hvem kan bruke tjenesten: Bare systemer som medlemmet har registrert for tjenesten i Helsenett "
            "Selvbetjening, og som autentiserer seg med HelseID og DPoP på vegne av medlemmet, kan bruke den. "
            "Journalsystemet skriver pasientopplysningene; velferdsteknologisystemene kan bare lese dem, og bare om "
            "pasienter de yter tjenester til for medlemmet.\n\n"
            "4. Test og produksjon: I testmiljøet skal det bare brukes syntetiske data og syntetiske virksomheter "
            "(organisasjonsnummer som begynner på 2 eller 3), aldri opplysninger om virkelige personer. Tjenesten tas "
            "i bruk i produksjon først når medlemmets signaturberettigede har signert medlemsvilkårene og godtatt "
            "disse bruksvilkårene.\n\n"
            "5. Logging og tilgangsstyring: NHN logger hver lesing og skriving med system, virksomhet og tidspunkt. "
            "Medlemmet sørger for at pasientopplysningene i journalsystemet er riktige, og for tilgangsstyring i egne "
            "systemer, slik at bare personell med tjenstlig behov ser opplysningene.\n\n"
            "6. Kostnader: Bestilling av tjenesten medfører ingen kostnader for medlemmet."
        ),
    ),
    (
        "vkp-episodeofcare",
        "1.0",
        "Bruksvilkår for informasjonstjenesten Kommunale tjenester (EpisodeOfCare)",
        (
            "1. Formål: Tjenesten lar medlemmets journalsystem (EPJ) dele hvilke kommunale helse- og omsorgstjenester "
            "pasienten er tildelt, for eksempel hjemmesykepleie eller trygghetsalarm, med velferdsteknologisystemene "
            "medlemmet bruker.\n\n"
            "2. Behandlingsansvar: Medlemmet er behandlingsansvarlig for opplysningene om tildelte tjenester som "
            "deles gjennom tjenesten. NHN er databehandler etter databehandleravtalen i medlemsvilkårene og behandler "
            "opplysningene bare for å levere tjenesten.\n\n"
            "3. Hvem kan bruke tjenesten: Bare systemer som medlemmet har registrert for tjenesten i Helsenett "
            "Selvbetjening, og som autentiserer seg med HelseID og DPoP på vegne av medlemmet, kan bruke den. "
            "Journalsystemet skriver opplysningene om tildelte tjenester; velferdsteknologisystemene kan bare lese "
            "dem.\n\n"
            "4. Test og produksjon: I testmiljøet skal det bare brukes syntetiske data og syntetiske virksomheter "
            "(organisasjonsnummer som begynner på 2 eller 3), aldri opplysninger om virkelige personer. Tjenesten tas "
            "i bruk i produksjon først når medlemmets signaturberettigede har signert medlemsvilkårene og godtatt "
            "disse bruksvilkårene.\n\n"
            "5. Logging og tilgangsstyring: NHN logger hver lesing og skriving med system, virksomhet og tidspunkt. "
            "Medlemmet sørger for at tildelte tjenester er oppdatert i journalsystemet, og for tilgangsstyring i egne "
            "systemer, slik at bare personell med tjenstlig behov ser opplysningene.\n\n"
            "6. Kostnader: Bestilling av tjenesten medfører ingen kostnader for medlemmet."
        ),
    ),
    (
        "vkp-careplan",
        "1.0",
        "Bruksvilkår for informasjonstjenesten Besøksplan (CarePlan)",
        (
            "1. Formål: Tjenesten lar medlemmets journalsystem (EPJ) dele pasientens besøksplan, altså når "
            "hjemmetjenesten skal komme, med velferdsteknologisystemene medlemmet bruker, for eksempel digitalt "
            "tilsyn og responssentre.\n\n"
            "2. Behandlingsansvar: Medlemmet er behandlingsansvarlig for besøksplanene som deles gjennom tjenesten. "
            "NHN er databehandler etter databehandleravtalen i medlemsvilkårene og behandler opplysningene bare for å "
            "levere tjenesten.\n\n"
            "3. Hvem kan bruke tjenesten: Bare systemer som medlemmet har registrert for tjenesten i Helsenett "
            "Selvbetjening, og som autentiserer seg med HelseID og DPoP på vegne av medlemmet, kan bruke den. "
            "Journalsystemet skriver besøksplanene; velferdsteknologisystemene kan bare lese dem.\n\n"
            "4. Test og produksjon: I testmiljøet skal det bare brukes syntetiske data og syntetiske virksomheter "
            "(organisasjonsnummer som begynner på 2 eller 3), aldri opplysninger om virkelige personer. Tjenesten tas "
            "i bruk i produksjon først når medlemmets signaturberettigede har signert medlemsvilkårene og godtatt "
            "disse bruksvilkårene.\n\n"
            "5. Logging og tilgangsstyring: NHN logger hver lesing og skriving med system, virksomhet og tidspunkt. "
            "Medlemmet sørger for at besøksplanene i journalsystemet er oppdatert, og for tilgangsstyring i egne "
            "systemer, slik at bare personell med tjenstlig behov ser opplysningene.\n\n"
            "6. Kostnader: Bestilling av tjenesten medfører ingen kostnader for medlemmet."
        ),
    ),
    (
        "vkp-allergyintolerance",
        "1.0",
        "Bruksvilkår for informasjonstjenesten Allergier og intoleranser (AllergyIntolerance)",
        (
            "1. Formål: Tjenesten lar medlemmets journalsystem (EPJ) dele pasientens registrerte allergier og "
            "intoleranser med velferdsteknologisystemene medlemmet bruker. Foreløpig kan bare Epic (Helseplattformen) "
            "levere opplysningene.\n\n"
            "2. Behandlingsansvar: Medlemmet er behandlingsansvarlig for opplysningene om allergier og intoleranser "
            "som deles gjennom tjenesten. NHN er databehandler etter databehandleravtalen i medlemsvilkårene og "
            "behandler opplysningene bare for å levere tjenesten.\n\n"
            "3. Hvem kan bruke tjenesten: Bare systemer som medlemmet har registrert for tjenesten i Helsenett "
            "Selvbetjening, og som autentiserer seg med HelseID og DPoP på vegne av medlemmet, kan bruke den. "
            "Journalsystemet skriver opplysningene; velferdsteknologisystemene kan bare lese dem.\n\n"
            "4. Test og produksjon: I testmiljøet skal det bare brukes syntetiske data og syntetiske virksomheter "
            "(organisasjonsnummer som begynner på 2 eller 3), aldri opplysninger om virkelige personer. Tjenesten tas "
            "i bruk i produksjon først når medlemmets signaturberettigede har signert medlemsvilkårene og godtatt "
            "disse bruksvilkårene.\n\n"
            "5. Logging og tilgangsstyring: NHN logger hver lesing og skriving med system, virksomhet og tidspunkt. "
            "Medlemmet sørger for tilgangsstyring i egne systemer, slik at bare personell med tjenstlig behov ser "
            "opplysningene.\n\n"
            "6. Kostnader: Bestilling av tjenesten medfører ingen kostnader for medlemmet."
        ),
    ),
    (
        "vkp-condition",
        "1.0",
        "Bruksvilkår for informasjonstjenesten Diagnoser (Condition)",
        (
            "1. Formål: Tjenesten lar velferdsteknologisystemene medlemmet bruker, søke opp pasientens diagnoser i "
            "medlemmets journalsystem (EPJ). Foreløpig kan bare Epic (Helseplattformen) levere diagnosene.\n\n"
            "2. Behandlingsansvar: Medlemmet er behandlingsansvarlig for diagnoseopplysningene som deles gjennom "
            "tjenesten. NHN er databehandler etter databehandleravtalen i medlemsvilkårene og behandler opplysningene "
            "bare for å levere tjenesten.\n\n"
            "3. Hvem kan bruke tjenesten: Bare systemer som medlemmet har registrert for tjenesten i Helsenett "
            "Selvbetjening, og som autentiserer seg med HelseID og DPoP på vegne av medlemmet, kan bruke den. "
            "Journalsystemet skriver diagnosene; velferdsteknologisystemene kan bare søke i dem og lese dem.\n\n"
            "4. Test og produksjon: I testmiljøet skal det bare brukes syntetiske data og syntetiske virksomheter "
            "(organisasjonsnummer som begynner på 2 eller 3), aldri opplysninger om virkelige personer. Tjenesten tas "
            "i bruk i produksjon først når medlemmets signaturberettigede har signert medlemsvilkårene og godtatt "
            "disse bruksvilkårene.\n\n"
            "5. Logging og tilgangsstyring: NHN logger hvert søk, hver lesing og hver skriving med system, virksomhet "
            "og tidspunkt. Medlemmet sørger for tilgangsstyring i egne systemer, slik at bare personell med tjenstlig "
            "behov ser diagnosene.\n\n"
            "6. Kostnader: Bestilling av tjenesten medfører ingen kostnader for medlemmet."
        ),
    ),
    (
        "vkp-medicationstatement",
        "1.0",
        "Bruksvilkår for informasjonstjenesten Legemiddelliste (MedicationStatement)",
        (
            "1. Formål: Tjenesten lar medlemmets journalsystem (EPJ) dele pasientens legemiddelliste med "
            "velferdsteknologisystemene medlemmet bruker, for eksempel medisindispensere, slik at de arbeider ut fra "
            "den samme listen som journalen. Foreløpig kan bare Epic (Helseplattformen) levere listen.\n\n"
            "2. Behandlingsansvar: Medlemmet er behandlingsansvarlig for legemiddellistene som deles gjennom "
            "tjenesten. NHN er databehandler etter databehandleravtalen i medlemsvilkårene og behandler opplysningene "
            "bare for å levere tjenesten.\n\n"
            "3. Hvem kan bruke tjenesten: Bare systemer som medlemmet har registrert for tjenesten i Helsenett "
            "Selvbetjening, og som autentiserer seg med HelseID og DPoP på vegne av medlemmet, kan bruke den. "
            "Journalsystemet skriver legemiddellisten; velferdsteknologisystemene kan bare lese den.\n\n"
            "4. Test og produksjon: I testmiljøet skal det bare brukes syntetiske data og syntetiske virksomheter "
            "(organisasjonsnummer som begynner på 2 eller 3), aldri opplysninger om virkelige personer. Tjenesten tas "
            "i bruk i produksjon først når medlemmets signaturberettigede har signert medlemsvilkårene og godtatt "
            "disse bruksvilkårene.\n\n"
            "5. Logging og tilgangsstyring: NHN logger hver lesing og skriving med system, virksomhet og tidspunkt. "
            "Medlemmet sørger for at legemiddellisten i journalsystemet er oppdatert, og for tilgangsstyring i egne "
            "systemer, slik at bare personell med tjenstlig behov ser opplysningene.\n\n"
            "6. Kostnader: Bestilling av tjenesten medfører ingen kostnader for medlemmet."
        ),
    ),
    (
        "vkp-observation",
        "1.0",
        "Bruksvilkår for informasjonstjenesten Målinger (Observation)",
        (
            "1. Formål: Tjenesten lar velferdsteknologi og digital hjemmeoppfølging sende målinger, som blodtrykk, "
            "puls, oksygenmetning og vekt, til medlemmets journalsystem (EPJ) for journalføring. Målingene sendes "
            "inne i Journalføringstjenestens Bundle.\n\n"
            "2. Behandlingsansvar: Medlemmet er behandlingsansvarlig for målingene som deles gjennom tjenesten. NHN "
            "er databehandler etter databehandleravtalen i medlemsvilkårene og behandler opplysningene bare for å "
            "levere tjenesten.\n\n"
            "3. Hvem kan bruke tjenesten: Bare systemer som medlemmet har registrert for tjenesten i Helsenett "
            "Selvbetjening, og som autentiserer seg med HelseID og DPoP på vegne av medlemmet, kan bruke den. "
            "Tilgangen er den samme som for Journalføringstjenesten. Velferdsteknologi- og hjemmeoppfølgingssystemene "
            "sender målingene; journalsystemet henter dem og kvitterer når de er journalført.\n\n"
            "4. Test og produksjon: I testmiljøet skal det bare brukes syntetiske data og syntetiske virksomheter "
            "(organisasjonsnummer som begynner på 2 eller 3), aldri opplysninger om virkelige personer. Tjenesten tas "
            "i bruk i produksjon først når medlemmets signaturberettigede har signert medlemsvilkårene og godtatt "
            "disse bruksvilkårene.\n\n"
            "5. Logging og tilgangsstyring: NHN logger hvert kall til tjenesten med system, virksomhet og tidspunkt. "
            "Medlemmet sørger for at mottatte målinger journalføres, og for tilgangsstyring i egne systemer, slik at "
            "bare personell med tjenstlig behov ser dem.\n\n"
            "6. Kostnader: Bestilling av tjenesten medfører ingen kostnader for medlemmet."
        ),
    ),
    (
        "vkp-medicationdispense",
        "1.0",
        "Bruksvilkår for informasjonstjenesten Utlevering av legemidler (MedicationDispense)",
        (
            "1. Formål: Tjenesten lar medisindispensere melde hver vellykkede utlevering av legemidler til medlemmets "
            "journalsystem (EPJ), slik at utleveringen kan journalføres. Meldingene sendes inne i "
            "Journalføringstjenestens Bundle.\n\n"
            "2. Behandlingsansvar: Medlemmet er behandlingsansvarlig for opplysningene om utleveringer som deles "
            "gjennom tjenesten. NHN er databehandler etter databehandleravtalen i medlemsvilkårene og behandler "
            "opplysningene bare for å levere tjenesten.\n\n"
            "3. Hvem kan bruke tjenesten: Bare systemer som medlemmet har registrert for tjenesten i Helsenett "
            "Selvbetjening, og som autentiserer seg med HelseID og DPoP på vegne av medlemmet, kan bruke den. "
            "Tilgangen er den samme som for Journalføringstjenesten. Medisindispenserne sender meldingene; "
            "journalsystemet henter dem og kvitterer når de er journalført.\n\n"
            "4. Test og produksjon: I testmiljøet skal det bare brukes syntetiske data og syntetiske virksomheter "
            "(organisasjonsnummer som begynner på 2 eller 3), aldri opplysninger om virkelige personer. Tjenesten tas "
            "i bruk i produksjon først når medlemmets signaturberettigede har signert medlemsvilkårene og godtatt "
            "disse bruksvilkårene.\n\n"
            "5. Logging og tilgangsstyring: NHN logger hvert kall til tjenesten med system, virksomhet og tidspunkt. "
            "Medlemmet sørger for at mottatte utleveringer journalføres, og for tilgangsstyring i egne systemer, slik "
            "at bare personell med tjenstlig behov ser dem.\n\n"
            "6. Kostnader: Bestilling av tjenesten medfører ingen kostnader for medlemmet."
        ),
    ),
]


def load_catalogue(service_model, terms_model) -> None:
    """Create or refresh the services and create their first usage terms. Idempotent.

    Takes the model classes, so the data migration can pass its historical ones.
    """
    for service in SERVICES:
        defaults = {field: value for field, value in service.items() if field != "code"}
        service_model.objects.update_or_create(code=service["code"], defaults=defaults)
    for service_code, version, title, body in USAGE_TERMS:
        # get_or_create, never update: published terms are immutable and signatures point at them.
        terms_model.objects.get_or_create(
            kind="usage",
            service_code=service_code,
            version=version,
            defaults={
                "title": title,
                "body": body,
                "effective_from": IN_FORCE,
                "published_at": IN_FORCE,
                "sha256": fingerprint("usage", service_code, version, title, body),
            },
        )
