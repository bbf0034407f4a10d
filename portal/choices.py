"""Choices shared by the apps (members cannot import orders, which depends on it)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Environment(models.TextChoices):
    TEST = "test", _("Test")
    PRODUCTION = "prod", _("Production")
