"""Choice labels looked up once per field and language, not once per row.

``Model.get_FOO_display()`` builds a dict of every choice (translating each label) on each call: a
list of 50 rows showing three choice fields pays 150 such dicts. Here each field's labels are read
once per language and kept, as plain text (the labels are code, they do not change at runtime).
"""

from functools import lru_cache

from django.db import models
from django.utils.translation import get_language


@lru_cache(maxsize=512)
def _labels(field: models.Field, language: str | None) -> dict[str, str]:
    return {str(value): str(label) for value, label in field.flatchoices}


def choice_labels(field: models.Field) -> dict[str, str]:
    """Every choice of `field` as {stored value: label in the active language}."""
    return _labels(field, get_language())


def choice_label(obj: models.Model, field_name: str) -> str:
    """What ``obj.get_<field_name>_display()`` says, from the per-language cache."""
    value = getattr(obj, field_name)
    if value is None:
        return ""
    value = str(value)
    return choice_labels(obj._meta.get_field(field_name)).get(value, value)
