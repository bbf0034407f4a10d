"""Backends that make an approved order real in the VKP information services' access registry.

Chosen in settings like Django's EMAIL_BACKEND. The sandbox records what it was asked, in process,
so the quick start shows orders becoming active. The HTTP backend, the outbox and retries with
backoff come with the provisioning engine (issue #6).
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


class ProvisioningError(Exception):
    """The backing service refused or failed; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Grant:
    org_number: str
    service_code: str
    environment: str


class SandboxBackend:
    """Keeps grants in memory: enough for a single-process demo, never for production."""

    grants: set[Grant] = set()

    def grant(self, order) -> None:
        self.grants.add(Grant(order.organisation.org_number, order.service.code, order.environment))

    def revoke(self, order) -> None:
        self.grants.discard(Grant(order.organisation.org_number, order.service.code, order.environment))


def get_backend():
    return import_string(settings.PROVISIONING_BACKEND)()
