"""The backing services provisioning talks to: HelseID's client registry and the VKP access registry.

Each has a small interface and two backends chosen in settings, like Django's EMAIL_BACKEND:
an HTTP backend (through `portal.clients.HttpTransport`) and an in-process sandbox that records
what it was asked, for the quick start and unit tests. The HTTP API is the one
`portal.simulator` serves; README "Backing-services simulator" documents it.
"""

import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

from portal.clients import BackingServiceError, HttpTransport


@dataclass(frozen=True)
class AccessGrant:
    """A vendor system's access to one service's data for one municipality in one environment."""

    environment: str
    org_number: str
    service: str
    system: str  # the vendor system's public id
    access: tuple[str, ...]  # "read", "write"

    @property
    def path(self) -> str:
        return f"/vkp/grants/{self.environment}/{self.org_number}/{self.service}/{self.system}"

    @property
    def target(self) -> tuple[str, str, str, str]:
        return (self.environment, self.org_number, self.service, self.system)


@dataclass
class RegisteredClient:
    """What HelseID's registry holds for a client."""

    client_id: str
    name: str = ""
    environment: str = ""
    tenancy: str = ""
    keys: list[dict] = field(default_factory=list)
    tenants: dict[str, list[str]] = field(default_factory=dict)  # organisation number → scopes
    enabled: bool = True


# Sandbox backends: process memory, one lock. Enough for the quick start's single process.


class SandboxVkpRegistry:
    grants: dict[tuple, AccessGrant] = {}
    lock = threading.Lock()

    def grant(self, grant: AccessGrant, *, key_base: str) -> None:
        with self.lock:
            self.grants[grant.target] = grant

    def revoke(self, grant: AccessGrant, *, key_base: str) -> None:
        with self.lock:
            self.grants.pop(grant.target, None)

    def list_grants(self, environment: str) -> list[AccessGrant]:
        with self.lock:
            return [grant for grant in self.grants.values() if grant.environment == environment]


class SandboxHelseIdRegistry:
    clients: dict[str, RegisteredClient] = {}
    lock = threading.Lock()

    def put_client(self, client: RegisteredClient, *, key_base: str) -> None:
        with self.lock:
            existing = self.clients.get(client.client_id)
            if existing is None:
                self.clients[client.client_id] = RegisteredClient(
                    client.client_id, client.name, client.environment, client.tenancy
                )
            else:
                existing.name, existing.enabled = client.name, True

    def set_keys(self, client_id: str, keys: list[dict], *, key_base: str) -> None:
        with self.lock:
            self._get(client_id).keys = list(keys)

    def set_tenants(self, client_id: str, tenants: dict[str, list[str]], *, key_base: str) -> None:
        with self.lock:
            self._get(client_id).tenants = dict(tenants)

    def disable(self, client_id: str, *, key_base: str) -> None:
        with self.lock:
            if client_id in self.clients:
                self.clients[client_id].enabled = False

    def get_client(self, client_id: str) -> RegisteredClient | None:
        with self.lock:
            return self.clients.get(client_id)

    def _get(self, client_id: str) -> RegisteredClient:
        if client_id not in self.clients:
            raise BackingServiceError(f"HelseID registry: no client {client_id}", retryable=False, status=404)
        return self.clients[client_id]


# HTTP backends.


class HttpVkpRegistry:
    def __init__(self):
        self.http = HttpTransport(settings.VKP_REGISTRY_URL, service="VKP access registry")

    def grant(self, grant: AccessGrant, *, key_base: str) -> None:
        self.http.request("PUT", grant.path, json_body={"access": list(grant.access)}, key_base=key_base)

    def revoke(self, grant: AccessGrant, *, key_base: str) -> None:
        self.http.request("DELETE", grant.path, key_base=key_base)

    def list_grants(self, environment: str) -> list[AccessGrant]:
        answer = self.http.request("GET", "/vkp/grants", params={"environment": environment})
        return [
            AccessGrant(
                item["environment"], item["organizationNumber"], item["service"], item["system"], tuple(item["access"])
            )
            for item in answer.get("grants", [])
        ]


class HttpHelseIdRegistry:
    def __init__(self):
        self.http = HttpTransport(settings.HELSEID_REGISTRY_URL, service="HelseID client registry")

    def put_client(self, client: RegisteredClient, *, key_base: str) -> None:
        body = {"name": client.name, "environment": client.environment, "tenancy": client.tenancy}
        self.http.request("PUT", f"/helseid/clients/{client.client_id}", json_body=body, key_base=key_base)

    def set_keys(self, client_id: str, keys: list[dict], *, key_base: str) -> None:
        self.http.request("PUT", f"/helseid/clients/{client_id}/keys", json_body={"keys": keys}, key_base=key_base)

    def set_tenants(self, client_id: str, tenants: dict[str, list[str]], *, key_base: str) -> None:
        body = {"tenants": [{"organizationNumber": org, "scopes": scopes} for org, scopes in sorted(tenants.items())]}
        self.http.request("PUT", f"/helseid/clients/{client_id}/tenants", json_body=body, key_base=key_base)

    def disable(self, client_id: str, *, key_base: str) -> None:
        try:
            self.http.request("POST", f"/helseid/clients/{client_id}/disable", key_base=key_base)
        except BackingServiceError as error:
            if error.status != 404:  # never registered: nothing to disable
                raise

    def get_client(self, client_id: str) -> RegisteredClient | None:
        try:
            item = self.http.request("GET", f"/helseid/clients/{client_id}")
        except BackingServiceError as error:
            if error.status == 404:
                return None
            raise
        return RegisteredClient(
            client_id=item["clientId"],
            name=item.get("name", ""),
            environment=item.get("environment", ""),
            tenancy=item.get("tenancy", ""),
            keys=item.get("keys", []),
            tenants={t["organizationNumber"]: t["scopes"] for t in item.get("tenants", [])},
            enabled=item.get("enabled", True),
        )


def vkp_registry():
    return import_string(settings.VKP_REGISTRY_BACKEND)()


def helseid_registry():
    return import_string(settings.HELSEID_REGISTRY_BACKEND)()
