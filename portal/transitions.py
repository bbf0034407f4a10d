"""Guarded state transitions shared by memberships, orders and what comes after them."""

from django.core.exceptions import ValidationError
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
