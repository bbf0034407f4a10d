"""Guarded state transitions shared by memberships, orders and what comes after them."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _


class InvalidTransition(ValidationError):
    """A state change was asked for from a state that does not allow it (e.g. approving twice)."""


class GuardedStateMixin:
    """For models with a `state` field and a `State` TextChoices.

    A transition is a conditional UPDATE (`WHERE state IN from_states`), so of two concurrent
    clicks exactly one changes the row and the other gets InvalidTransition.
    """

    invalid_transition_message = _("It is “%(state)s” and cannot become “%(target)s”.")

    def _transition(self, from_states, to_state, **fields) -> None:
        updated = type(self).objects.filter(pk=self.pk, state__in=from_states).update(state=to_state, **fields)
        if not updated:
            self.refresh_from_db(fields=["state"])
            raise InvalidTransition(
                self.invalid_transition_message
                % {"state": self.get_state_display(), "target": self.State(to_state).label}
            )
        # The row now holds what the UPDATE wrote: set the same values here rather than read them back.
        # A full refresh also dropped the loaded related rows (organisation, service ...), which the
        # audit event and notices after a transition then fetched again one by one.
        self.state = self.State(to_state).value
        for name, value in fields.items():
            setattr(self, name, value)

    @classmethod
    def _transition_many(cls, objs, from_states, to_state, **fields) -> None:
        """The same guarded transition for many rows in one UPDATE (`WHERE pk IN … AND state IN from_states`).

        All or none: if any row is no longer in one of `from_states`, InvalidTransition, and the caller's
        transaction (required) rolls the others back. Callers hold the rows' locks (SELECT … FOR UPDATE),
        so the rows they checked are the rows this changes.
        """
        objs = list(objs)
        if not objs:
            return
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("_transition_many runs inside the transaction that locked the rows")
        pks = {obj.pk for obj in objs}
        updated = cls.objects.filter(pk__in=pks, state__in=from_states).update(state=to_state, **fields)
        if updated != len(pks):
            stray = cls.objects.filter(pk__in=pks).exclude(state__in=from_states).first()
            raise InvalidTransition(
                cls.invalid_transition_message
                % {
                    "state": stray.get_state_display() if stray else "?",
                    "target": cls.State(to_state).label,
                }
            )
        for obj in objs:
            obj.state = cls.State(to_state).value
            for name, value in fields.items():
                setattr(obj, name, value)
