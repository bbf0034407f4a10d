"""Norwegian organisation numbers (*organisasjonsnummer*).

Nine digits, the last a mod-11 check digit over the first eight with weights 3 2 7 6 5 4 3 2:
check = 11 - (sum mod 11), where 11 gives 0 and 10 means no valid number exists. NHN's test
environments use synthetic numbers starting with 2 or 3; real organisations start with 8 or 9.

Only the ASCII digits 0 to 9 count: Python's ``str.isdigit`` and ``int`` also take superscripts
(``²``), full-width (U+FF13) and other scripts' digits, which would pass the check digit and
then fail the database's nine-digit constraint. The separators people type between groups are
spaces (also the no-break space), dots and hyphens.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
SYNTHETIC_FIRST_DIGITS = frozenset("23")
PRODUCTION_FIRST_DIGITS = frozenset("89")
_SEPARATORS = re.compile(r"[ .\-\u00a0]")
_NINE_DIGITS = re.compile(r"[0-9]{9}")


def normalise(value: str) -> str:
    """Strip the separators people type ("974 760 673", "974.760.673")."""
    return _SEPARATORS.sub("", value or "")


def check_digit(first_eight: str) -> int | None:
    """The check digit for eight digits, or None where the remainder rules every digit out."""
    remainder = sum(weight * int(digit) for weight, digit in zip(WEIGHTS, first_eight, strict=True)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check


def with_check_digit(first_eight: str) -> str | None:
    check = check_digit(first_eight)
    return None if check is None else f"{first_eight}{check}"


def has_valid_check_digit(number: str) -> bool:
    return bool(_NINE_DIGITS.fullmatch(number)) and check_digit(number[:8]) == int(number[8])


def validate_org_number(value: str) -> None:
    number = normalise(value)
    if not _NINE_DIGITS.fullmatch(number):
        raise ValidationError(
            _(
                "An organisation number has exactly 9 digits, written with the digits 0–9; spaces, "
                "dots or hyphens between them are allowed."
            ),
            code="format",
        )
    if not has_valid_check_digit(number):
        raise ValidationError(
            _("%(number)s is not a valid organisation number: the check digit does not match."),
            code="checksum",
            params={"number": number},
        )
    if number[0] not in SYNTHETIC_FIRST_DIGITS | PRODUCTION_FIRST_DIGITS:
        raise ValidationError(
            _(
                "%(number)s cannot be used here: organisation numbers start with 8 or 9, "
                "and those of synthetic test organisations with 2 or 3."
            ),
            code="first_digit",
            params={"number": number},
        )


def is_synthetic(number: str) -> bool:
    return number[:1] in SYNTHETIC_FIRST_DIGITS


def formatted(number: str) -> str:
    """The way Brønnøysund prints it: 974 760 673."""
    return f"{number[:3]} {number[3:6]} {number[6:]}" if len(number) == 9 else number
