"""Text the portal refuses wherever it comes from: NUL characters and lone surrogates.

PostgreSQL cannot store either in a text column (NUL is refused outright, a lone surrogate
cannot be encoded as UTF-8), so a value carrying one would end in a 500 at the first write or
query. `portal.middleware.RefuseUnsafeTextMiddleware` refuses them for every request (path, query
string, form fields, file names and the User-Agent) with `templates/portal/refused_input.html`.
Text the portal decodes itself (a pasted JSON key) is checked where it is decoded.
"""

import re

_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def find_unsafe(value: str) -> str | None:
    """The first refused character in `value`, or None."""
    match = _UNSAFE.search(value)
    return match.group() if match else None


def unsafe_values(*querydicts) -> list[str]:
    """The field names (keys) whose name or any value carries a refused character."""
    found = []
    for data in querydicts:
        for key, values in data.lists():
            if find_unsafe(key) or any(isinstance(v, str) and find_unsafe(v) for v in values):
                found.append(key)
    return found
