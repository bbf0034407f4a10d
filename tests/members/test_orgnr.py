import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st
from stdnum.no import orgnr as stdnum_orgnr

from members.orgnr import check_digit, formatted, has_valid_check_digit, is_synthetic, normalise, validate_org_number

eight_digits = st.text(alphabet="0123456789", min_size=8, max_size=8)
nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)


def test_known_numbers():
    assert has_valid_check_digit("313231593")  # NHN's synthetic test municipality
    assert has_valid_check_digit("123456785")  # the worked example
    assert has_valid_check_digit("974760673")  # Brønnøysundregistrene
    assert not has_valid_check_digit("974760674")


def test_remainder_one_means_no_valid_number_exists():
    # Only the seventh digit counts here (weight 3). 00000070: 21 mod 11 = 10, so check = 1.
    # 00000040: 12 mod 11 = 1, so check = 10, which no single digit can be.
    assert check_digit("00000070") == 1
    assert check_digit("00000040") is None
    assert not any(has_valid_check_digit(f"00000040{d}") for d in range(10))


@given(eight_digits)
def test_our_check_digit_agrees_with_python_stdnum(first_eight):
    check = check_digit(first_eight)
    if check is None:
        assert not any(stdnum_orgnr.is_valid(first_eight + str(d)) for d in range(10))
    else:
        assert stdnum_orgnr.is_valid(f"{first_eight}{check}")


@given(nine_digits)
def test_validity_agrees_with_python_stdnum(number):
    assert has_valid_check_digit(number) == stdnum_orgnr.is_valid(number)


@given(eight_digits, st.integers(min_value=0, max_value=7), st.integers(min_value=1, max_value=9))
def test_changing_one_digit_breaks_the_check(first_eight, position, delta):
    check = check_digit(first_eight)
    if check is None:
        return
    digits = list(first_eight)
    digits[position] = str((int(digits[position]) + delta) % 10)
    # Every weight is coprime with 11, so a single changed digit always changes the check digit.
    assert not has_valid_check_digit("".join(digits) + str(check))


@given(st.sampled_from("23"), st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_every_valid_synthetic_number_passes_validation(first, rest):
    check = check_digit(first + rest)
    if check is not None:
        validate_org_number(f"{first}{rest}{check}")
        assert is_synthetic(f"{first}{rest}{check}")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "format"),
        ("12345678", "format"),
        ("1234567890", "format"),
        ("31323159X", "format"),
        ("313231594", "checksum"),
        ("123456785", "first_digit"),  # valid check digit, but neither production nor synthetic
        ("510000005", "first_digit"),
    ],
)
def test_bad_numbers_are_refused_with_a_reason(value, code):
    with pytest.raises(ValidationError) as error:
        validate_org_number(value)
    assert error.value.code == code
    assert str(error.value.messages[0])


def test_people_may_type_spaces_and_dots():
    assert normalise(" 313 231.593 ") == "313231593"
    validate_org_number("313 231 593")


def test_synthetic_and_production_numbers():
    assert is_synthetic("313231593")
    assert not is_synthetic("974760673")
    assert formatted("313231593") == "313 231 593"
