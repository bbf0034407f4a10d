"""Read-side queries for the members app."""

from django.db.models import QuerySet

from .models import Affiliation, Organisation, User


def affiliations_of(user: User) -> QuerySet[Affiliation]:
    return Affiliation.objects.filter(user=user).select_related("organisation").order_by("organisation__name", "role")


def organisation_people(organisation: Organisation) -> QuerySet[Affiliation]:
    return Affiliation.objects.filter(organisation=organisation).select_related("user").order_by("role", "user__email")


def organisations_for_staff() -> QuerySet[Organisation]:
    return Organisation.objects.select_related("parent").order_by("kind", "name")
