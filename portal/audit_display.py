"""The audit log as people read it: each entry rendered when it is shown, in the reader's language.

An entry stores codes and parameters (`action`, and `before` / `after` with field names and stored
values), never text translated for whoever caused it. Here the action becomes its label, each field
its name (the model field's verbose name where there is one), each choice value its label, and each
date the reader's local format. Entries written before this was so may hold a finished text: it is
shown as stored.
"""

from dataclasses import dataclass
from functools import cached_property, lru_cache

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from .labels import choice_labels

# Keys that carry no meaning for a person (internal ids); the object itself is linked elsewhere.
HIDDEN_KEYS = {"task", "message", "sha256"}

# Technical errors from the backing services: NHN staff read them (as on the order page), others do not.
STAFF_ONLY_KEYS = {"error", "last_error", "differences"}

# A stored key that names a model field differently (written before the field got its name, or shorter).
FIELD_ALIASES = {
    ("members.organisationclaim", "how"): "decided_how",
    ("members.organisationclaim", "expires_at"): "token_expires_at",
}

# Names of keys that are no field of the entry's object (or of any object: login method, error).
KEY_LABELS = {
    "state": _("State"),
    "reason": _("Reason"),
    "error": _("Error"),
    "last_error": _("Last error"),
    "step": _("Step"),
    "email": _("E-mail"),
    "role": _("Role"),
    "provider": _("Login service"),
    "method": _("Login method"),
    "sessions": _("Sessions"),
    "expires_at": _("Expires"),
    "effective_from": _("In force from"),
    "version": _("Version"),
    "document": _("Terms"),
    "replaces": _("Replaces"),
    "authority": _("On the authority of"),
    "delegate": _("Delegate"),
    "recipient": _("Recipient"),
    "subject": _("Subject"),
    "service": _("Service"),
    "environment": _("Environment"),
    "kind": _("Type"),
    "name": _("Name"),
    "org_number": _("Organisation number"),
    "organisation": _("Organisation"),
    "user": _("Person"),
    "system": _("System"),
    "vendor": _("Vendor"),
    "supported": _("Supported services"),
    "how": _("Decided how"),
    "complete": _("Complete"),
    "automatic": _("Approved automatically"),
    "signed_by": _("Signed by"),
    "cosigned_by": _("Co-signed by"),
    "people": _("People told"),
    "total": _("People to tell"),
    "steps": _("Steps"),
    "client_id": _("Client ID"),
    "tenancy": _("Tenancy"),
    "kid": _("Key ID"),
    "kids": _("Key IDs"),
    "source": _("Source"),
    "orders": _("Orders"),
    "filter": _("Filter"),
    "differences": _("Differences"),
    "first_name": _("First name"),
    "last_name": _("Last name"),
    "phone": _("Phone"),
}


@dataclass(frozen=True)
class Change:
    """One field of an entry: its name, what it was (None: not recorded) and what it became."""

    field: str
    before: str | None
    after: str
    staff_only: bool = False

    def __str__(self):
        if self.before is None:
            return f"{self.field}: {self.after}"
        return f"{self.field}: {self.before} → {self.after}"


@dataclass(frozen=True)
class RenderedEvent:
    label: str
    changes: tuple[Change, ...]  # every change, for NHN staff
    summary: str  # the changes anyone may read, on one line
    actor_name: str
    actor_email: str

    @cached_property
    def public_changes(self) -> tuple[Change, ...]:
        """What the organisation's own people and vendors may read."""
        return tuple(change for change in self.changes if not change.staff_only)


def render_event(event) -> RenderedEvent:
    """What the entry says, in the active language (call it while rendering the page)."""
    from .audit import ACTION_LABELS

    label = str(ACTION_LABELS.get(event.action, event.action))
    changes = tuple(_changes(event.object_type, event.before, event.after))
    actor_name, actor_email = actor_of(event)
    return RenderedEvent(
        label=label,
        changes=changes,
        summary="; ".join(str(change) for change in changes if not change.staff_only),
        actor_name=actor_name,
        actor_email=actor_email,
    )


def actor_of(event) -> tuple[str, str]:
    """The person's full name as they are known now, and the address they had when they acted.

    Reads `event.actor`: list pages select it with the entries (`select_related("actor")`).
    """
    if event.actor_id is None:
        return gettext("System"), ""
    name = event.actor.get_full_name().strip()
    email = event.actor_label or event.actor.email
    return (name or email), (email if name else "")


def _changes(object_type: str, before, after):
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    language = get_language()
    keys = list(after) + [key for key in before if key not in after]
    for key in keys:
        if key in HIDDEN_KEYS:
            continue
        field, name = _field_and_name(object_type, key, language)
        old = _value(key, field, before[key]) if key in before else None
        new = _value(key, field, after[key]) if key in after else "–"
        yield Change(name, old, new, staff_only=key in STAFF_ONLY_KEYS)


@lru_cache(maxsize=2048)
def _field_and_name(object_type: str, key: str, language: str | None):
    """The model field a key names (None if it names none) and the key's name in `language`, the active one:
    looked up once per object type, key and language, not once per change of every entry on the page."""
    field = _field(_model(object_type), object_type, key)
    return field, (capfirst(str(field.verbose_name)) if field is not None else _key_label(key))


def _model(object_type: str):
    if not object_type or "." not in object_type:
        return None
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def _field(model, object_type: str, key: str):
    if model is None:
        return None
    name = FIELD_ALIASES.get((object_type, key), key)
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    # A relation's stored value is a code or a name, not the related row: its label is all it lends.
    return field if getattr(field, "verbose_name", None) else None


def _key_label(key: str) -> str:
    label = KEY_LABELS.get(key)
    return str(label) if label is not None else capfirst(key.replace("_", " "))


def _value(key: str, field, value) -> str:
    if value is None or value == "":
        return "–"
    if key == "step" and isinstance(value, dict):
        from orders.models import ProvisioningTask

        return ProvisioningTask.describe_step(value.get("kind", ""), value)
    if key == "authority" and isinstance(value, dict):
        from members.authority import authority_text

        words = authority_text(str(value.get("kind", "")), value)
        if words:
            return words
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, list):
        return ", ".join(_value(key, field, item) for item in value) or "–"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_value(k, None, v)}" for k, v in value.items()) or "–"
    choices = _choices(key, field)
    if choices and str(value) in choices:
        return str(choices[str(value)])
    if isinstance(field, models.BooleanField) and str(value) in ("True", "False"):
        return gettext("Yes") if value == "True" else gettext("No")
    if isinstance(value, str) and (isinstance(field, models.DateField) or _looks_like_a_date(key)):
        return _format_date(value)
    return str(value)


def _choices(key: str, field) -> dict[str, str]:
    return _choice_labels(key, field, get_language())


@lru_cache(maxsize=1024)
def _choice_labels(key: str, field, language: str | None) -> dict[str, str]:
    """{stored value: label in `language`, the active one}, built once per field (or key) and language."""
    if field is not None and field.choices:
        return choice_labels(field)
    if key == "environment":
        from .choices import Environment

        return {code: str(label) for code, label in Environment.choices}
    if key == "role":
        from members.models import Affiliation

        return {code: str(label) for code, label in Affiliation.Role.choices}
    return {}


def _looks_like_a_date(key: str) -> bool:
    return key.endswith(("_at", "_from", "_on"))


def _format_date(value: str) -> str:
    """An ISO date or time as the reader writes it (local time); anything else as stored."""
    try:
        moment = parse_datetime(value)
        if moment is not None:
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
        day = parse_date(value)
    except ValueError:
        return value
    return formats.date_format(day, "SHORT_DATE_FORMAT") if day is not None else value
