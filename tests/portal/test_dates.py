"""Dates: Norwegian style in bokmål, unambiguous day-month-year in English (never 12/01/2026 8:27 p.m.)."""

import datetime

from django.template import Context, Template
from django.utils import translation

MOMENT = datetime.datetime(2026, 12, 1, 20, 27)


def render(source: str, language: str) -> str:
    with translation.override(language):
        return Template(source).render(Context({"moment": MOMENT, "day": MOMENT.date()}))


def test_english_dates_are_day_month_year():
    assert render('{{ day|date:"DATE_FORMAT" }}', "en") == "1 December 2026"
    assert render('{{ moment|date:"SHORT_DATETIME_FORMAT" }}', "en") == "1 Dec 2026 20:27"
    assert render("{{ day }}", "en") == "1 December 2026"


def test_bokmal_dates_are_norwegian():
    assert render('{{ day|date:"DATE_FORMAT" }}', "nb") == "1. desember 2026"
    assert render('{{ moment|date:"SHORT_DATETIME_FORMAT" }}', "nb") == "01.12.2026 20:27"


def test_no_template_hard_codes_a_norwegian_date_format():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.*")
        if any(fmt in path.read_text() for fmt in ('date:"j. F', 'date:"d.m.Y', 'date:"j.n.Y'))
    ]
    assert offenders == []
