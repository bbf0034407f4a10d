"""Choice labels from the per-language cache say what get_FOO_display says, in the active language."""

import pytest
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils import translation

from orders.models import Order, ProvisioningTask
from portal.labels import choice_label


def test_the_cached_label_is_the_display_label_in_each_language():
    task = ProvisioningTask(kind=ProvisioningTask.Kind.VKP_ACCESS, state=ProvisioningTask.State.FAILED)
    order = Order(environment="prod", state=Order.State.SUBMITTED)
    for language in ("nb", "en"):
        with translation.override(language):
            assert choice_label(task, "kind") == task.get_kind_display()
            assert choice_label(task, "state") == task.get_state_display()
            assert choice_label(order, "environment") == order.get_environment_display()
    with translation.override("en"):
        assert choice_label(order, "environment") == "Production"
    with translation.override("nb"):
        assert choice_label(order, "environment") != "Production"


def test_a_value_that_is_no_choice_is_shown_as_stored():
    assert choice_label(Order(state="retired-code"), "state") == "retired-code"


def test_the_display_filter_renders_the_label():
    template = Template('{% load portal_tags %}{{ order|display:"state" }}')
    with translation.override("en"):
        assert template.render(Context({"order": Order(state=Order.State.FAILED)})) == "Set-up failed"


@pytest.mark.parametrize(
    ("state", "attempts", "color", "text"),
    [
        ("pending", 0, "info", "Waiting"),
        ("pending", 2, "warning", "Retrying after 2 attempts"),
        ("failed", 3, "danger", "Failed"),
        ("succeeded", 1, "success", "Done"),
        ("cancelled", 1, "neutral", "Cancelled by NHN"),
    ],
)
def test_a_step_state_tag_says_where_the_step_is(state, attempts, color, text):
    step = ProvisioningTask(state=state, attempts=attempts)
    with translation.override("en"):
        html = render_to_string("orders/_step_state.html", {"step": step})
    assert f'data-color="{color}"' in html
    assert f">{text}</span>" in html
