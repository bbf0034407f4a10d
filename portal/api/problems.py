"""RFC 9457 problem details for the self-service API, in the caller's language (bokmål unless English is asked for)."""

from __future__ import annotations

from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _

PROBLEM_BASE = "/api/v1/problems/"

# slug → (status, title). The type URI is PROBLEM_BASE + slug; README lists them.
PROBLEMS = {
    "unauthenticated": (401, _("An access token is required")),
    "dpop-required": (401, _("The access token must be DPoP-bound")),
    "invalid-token": (401, _("The access token is not valid")),
    "invalid-dpop-proof": (401, _("The DPoP proof is not valid")),
    "dpop-proof-replayed": (401, _("The DPoP proof has been used before")),
    "insufficient-scope": (403, _("The access token lacks the scope this operation needs")),
    "browser-only": (403, _("This is done in the browser")),
    "not-found": (404, _("Not found")),
    "validation-error": (422, _("The request is not valid")),
    "refused": (422, _("The request was refused")),
    "idempotency-key-reused": (422, _("The Idempotency-Key was used for another request")),
    "rate-limited": (429, _("Too many requests")),
    "bad-request": (400, _("The request is malformed")),
    "too-large": (413, _("The request is too large")),
}


class ApiProblem(Exception):
    def __init__(self, slug: str, detail: str = "", *, headers: dict | None = None, errors: list | None = None):
        super().__init__(slug)
        self.slug = slug
        self.status, self.title = PROBLEMS[slug]
        self.detail = str(detail)
        self.headers = headers or {}
        self.errors = errors


def problem_body(slug: str, detail: str = "", *, instance: str = "", errors=None) -> dict:
    status, title = PROBLEMS[slug]
    body = {"type": PROBLEM_BASE + slug, "title": str(title), "status": status}
    if detail:
        body["detail"] = str(detail)
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body


def problem_response(request, problem: ApiProblem) -> JsonResponse:
    body = problem_body(problem.slug, problem.detail, instance=request.path, errors=problem.errors)
    response = JsonResponse(body, status=problem.status, content_type="application/problem+json")
    for name, value in problem.headers.items():
        response[name] = value
    response["Content-Language"] = request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else "nb"
    return response
