"""One way to talk to backing services over HTTP: timeouts, idempotency keys, errors that say whether to retry.

The HelseID client registry, the VKP access registry and the mail API all go through
`HttpTransport`; each app's `clients.py` builds its small interface on top of it.
"""

import hashlib
import json
import logging
import os
import random
import threading

import httpx
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger(__name__)

# 408 and 429 are the client's "try again later"; every other 4xx means the request itself is wrong.
RETRYABLE_CLIENT_ERRORS = {408, 425, 429}


class BackingServiceError(Exception):
    """A backing service refused or failed. `retryable` says whether the same request later can succeed."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.code = code


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, capped, with jitter.

    "Equal jitter": half the delay is fixed, half random, so many tasks failing together do not
    come back together, yet none comes back at once.
    """
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


def idempotency_key(base: str, method: str, path: str, body) -> str:
    """The same change to the same target gives the same key, so a repeat is recognised as a replay.

    The body is part of the key: when what the database wants has changed since the last attempt,
    the new request is a new change, not a replay of the old one.
    """
    digest = hashlib.sha256(
        json.dumps([method, path, body], sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:32]
    return f"{base}:{digest}"


# One connection pool per process, shared by every call to every backing service. Building an
# httpx.Client (and its SSL context) for each task was about half of a worker's CPU (issue 15), and
# a new client never reuses a kept-alive connection. A pool must not cross a fork: the child would
# write to its parent's sockets. So it is made lazily in the process that uses it; Celery's pool
# processes drop the inherited one (`worker_process_init`, see portal/celery.py) and close theirs
# when they end (`worker_process_shutdown`); the pid check covers any other fork (gunicorn --preload).
_shared_client: httpx.Client | None = None
_shared_client_pid: int | None = None
_shared_client_lock = threading.Lock()


def shared_http_client() -> httpx.Client:
    """This process's HTTP client (thread-safe, per httpx); timeouts are given per request."""
    global _shared_client, _shared_client_pid
    with _shared_client_lock:
        if _shared_client is None or _shared_client_pid != os.getpid() or _shared_client.is_closed:
            _shared_client = httpx.Client(headers={"User-Agent": "helsenett-selvbetjening"})
            _shared_client_pid = os.getpid()
        return _shared_client


def forget_shared_http_client() -> None:
    """In a freshly forked process: drop the parent's client without closing it (its sockets are the parent's)."""
    global _shared_client, _shared_client_pid
    with _shared_client_lock:
        _shared_client, _shared_client_pid = None, None


def close_shared_http_client() -> None:
    """When the process ends: close its connections."""
    global _shared_client, _shared_client_pid
    with _shared_client_lock:
        client, pid = _shared_client, _shared_client_pid
        _shared_client, _shared_client_pid = None, None
    if client is not None and pid == os.getpid():
        client.close()


class HttpTransport:
    """One backing service: its base URL, timeout and error rules, over the process's shared client."""

    def __init__(self, base_url: str, *, timeout: float | None = None, service: str):
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout if timeout is not None else settings.BACKING_SERVICES_TIMEOUT)

    @property
    def client(self) -> httpx.Client:
        return shared_http_client()

    def request(self, method: str, path: str, *, json_body=None, key_base: str = "", params=None) -> dict:
        """Send one request; a mutating request carries an Idempotency-Key derived from `key_base`."""
        headers = {}
        if method != "GET":
            headers["Idempotency-Key"] = idempotency_key(key_base, method, path, json_body)
        try:
            response = self.client.request(
                method, self.base_url + path, json=json_body, params=params, headers=headers, timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise BackingServiceError(
                f"{self.service}: no answer within {self.timeout.read} s ({method} {path})", retryable=True
            ) from None
        except httpx.TransportError as error:
            raise BackingServiceError(
                f"{self.service}: connection failed ({method} {path}): {type(error).__name__}", retryable=True
            ) from None
        if response.status_code == 409 and _error_code(response) == "duplicate_request":
            # An earlier attempt went through but its answer was lost; the service says so.
            return {"duplicate": True}
        if response.is_success:
            return response.json() if response.content else {}
        raise self._error(method, path, response)

    def _error(self, method: str, path: str, response: httpx.Response) -> BackingServiceError:
        code = _error_code(response)
        message = ""
        try:
            message = response.json().get("error", {}).get("message", "")
        except ValueError:
            message = response.text[:200]
        retryable = response.status_code >= 500 or response.status_code in RETRYABLE_CLIENT_ERRORS
        return BackingServiceError(
            f"{self.service} answered {response.status_code}{f' {code}' if code else ''} to {method} {path}"
            f"{f': {message}' if message else ''}",
            retryable=retryable,
            status=response.status_code,
            code=code,
        )


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", {}).get("code", ""))
    except (ValueError, AttributeError):
        return ""


class HttpEmailBackend(BaseEmailBackend):
    """Django e-mail backend that hands messages to NHN's mail API (or the simulator's) over HTTP.

    The message's Message-ID is its idempotency key, so the retries of `portal.tasks.send_outgoing_message`
    deliver a message once.
    """

    def __init__(self, fail_silently=False, **kwargs):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.transport = HttpTransport(settings.MAIL_API_URL, service="Mail API")

    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages:
            message_id = message.extra_headers.get("Message-ID") or message.message()["Message-ID"]
            html = next(
                (content for content, mimetype in getattr(message, "alternatives", []) if "html" in mimetype), ""
            )
            try:
                self.transport.request(
                    "POST",
                    "/mail/messages",
                    json_body={
                        "from": message.from_email,
                        "to": list(message.recipients()),
                        "subject": message.subject,
                        "text": message.body,
                        "html": html,
                    },
                    key_base=f"mail:{message_id}",
                )
            except BackingServiceError:
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent
