"""Text the portal refuses wherever it comes from: NUL characters and lone surrogates.

PostgreSQL cannot store either in a text column (NUL is refused outright, a lone surrogate
cannot be encoded as UTF-8), so a value carrying one would end in a 500 at the first write or
query. `portal.middleware.RefuseUnsafeTextMiddleware` refuses them for every request (path, query
string, form fields and file names); `find_unsafe` is also used on text the portal decodes itself
(JSON keys).
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_UNSAFE = re.compile("[\x00\ud800-\udfff]")

UNSAFE_TEXT_MESSAGE = _(
    "The text contains a character that cannot be used: a null character (U+0000) or half of a "
    "Unicode character (a lone surrogate, U+D800–U+DFFF). Remove it and try again."
)


def find_unsafe(value: str) -> str | None:
    """The first refused character in `value`, or None."""
    match = _UNSAFE.search(value)
    return match.group() if match else None


def validate_safe_text(value) -> None:
    """A validator for any field or decoded value: refuses NUL and lone surrogates with one message."""
    if isinstance(value, str) and find_unsafe(value):
        raise ValidationError(UNSAFE_TEXT_MESSAGE, code="unsafe_text")


def unsafe_values(*querydicts) -> list[str]:
    """The field names (keys) whose name or any value carries a refused character."""
    found = []
    for data in querydicts:
        for key, values in data.lists():
            if find_unsafe(key) or any(isinstance(v, str) and find_unsafe(v) for v in values):
                found.append(key)
    return found
