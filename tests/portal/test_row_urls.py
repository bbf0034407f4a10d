"""``{% row_url %}`` gives exactly what ``{% url %}`` gives, filling in only what fills in safely."""

import uuid

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, clear_script_prefix, set_script_prefix

from portal.templatetags import row_urls


def both(source: str, **context) -> tuple[str, str]:
    """The same template with {% url %} and with {% row_url %}."""
    plain = Template("{% load row_urls %}" + source.replace("TAG", "url")).render(Context(context))
    fast = Template("{% load row_urls %}" + source.replace("TAG", "row_url")).render(Context(context))
    return plain, fast


@pytest.mark.parametrize(
    "source, context",
    [
        ("{% TAG 'order_detail' id %}", {"id": uuid.uuid4()}),
        ("{% TAG 'organisation_lifecycle' number %}", {"number": "313231593"}),
        (
            "{% TAG 'staff_order_decide' id 'godkjenn' %}|{% TAG 'staff_order_decide' id 'avvis' %}",
            {"id": uuid.uuid4()},
        ),
        ("{% TAG 'staff_order_decide' id 'godkjenn' as approve %}[{{ approve }}]", {"id": uuid.uuid4()}),
        ("{% TAG 'catalogue' org_number=number %}", {"number": "313231593"}),  # keywords: the plain way
        ("{% TAG 'staff_service_edit' code %}", {"code": "vkp-journaling"}),  # a word: the plain way
        ("{% TAG 'staff_service_edit' 'vkp-patient' %}", {}),  # a literal word is part of the shape
    ],
)
def test_row_url_renders_what_url_renders(source, context):
    plain, fast = both(source, **context)
    assert fast == plain and plain


def test_each_row_gets_its_own_values_filled_in():
    ids = [uuid.uuid4() for _ in range(3)]
    template = "{% for id in ids %}{% TAG 'order_detail' id %} {% endfor %}"
    plain, fast = both(template, ids=ids)
    assert fast == plain
    assert all(str(id_) in fast for id_ in ids)


def test_a_value_the_pattern_refuses_fails_as_url_does():
    with pytest.raises(NoReverseMatch):
        both("{% TAG 'organisation_lifecycle' number %}", number="31323159")  # eight digits: not an orgnr
    with pytest.raises(NoReverseMatch):
        both("{% TAG 'order_detail' id %}", id="not-a-uuid")


def test_the_script_prefix_is_part_of_the_filled_url():
    id_ = uuid.uuid4()
    set_script_prefix("/portal/")
    try:
        plain, fast = both("{% TAG 'order_detail' id %}", id=id_)
    finally:
        clear_script_prefix()
    assert fast == plain == f"/portal/bestillinger/ordre/{id_}/"
    assert both("{% TAG 'order_detail' id %}", id=id_)[1] == f"/bestillinger/ordre/{id_}/"


def test_the_short_way_is_taken_for_ids_and_organisation_numbers():
    row_urls._FILLERS.clear()
    both("{% TAG 'order_detail' id %}{% TAG 'organisation_lifecycle' n %}", id=uuid.uuid4(), n="313231593")
    shapes = {key[:2]: parts for key, parts in row_urls._FILLERS.items()}
    assert shapes[("order_detail", (("uuid",),))] == ["/bestillinger/ordre/", "/"]
    assert shapes[("organisation_lifecycle", (("digits", 9),))] == ["/virksomhet/", "/"]


def test_row_reverse_gives_what_reverse_gives():
    from django.urls import reverse

    id_ = uuid.uuid4()
    assert row_urls.row_reverse("order_detail", id_) == reverse("order_detail", args=[id_])
    assert row_urls.row_reverse("staff_order_decide", id_, "avvis") == reverse(
        "staff_order_decide", args=[id_, "avvis"]
    )
    assert row_urls.row_reverse("organisation_lifecycle", "313231593") == "/virksomhet/313231593/"
    assert row_urls.row_reverse("staff_service_edit", "vkp-patient") == reverse(
        "staff_service_edit", args=["vkp-patient"]
    )
