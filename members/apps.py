from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self):
        from . import invitations, middleware  # noqa: F401  (signal receivers: invitations, staff MFA)
