from dataclasses import replace
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils import translation
from django.utils.translation import gettext_lazy as _lazy


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Bokmål unless the person chose English with the language switch.

    Django would follow the browser's Accept-Language; a Norwegian public service shows bokmål
    by default, so only the cookie the switch sets decides.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


class PreferredLanguageMiddleware:
    """After a login in a browser that has not chosen (no cookie): the language the person chose before, stored on
    their account by the switch. Placed after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES and request.user.is_authenticated:
            language = request.user.preferred_language
            if language in dict(settings.LANGUAGES) and language != translation.get_language():
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)


class RequestBodyLimitMiddleware:
    """Refuse a request body larger than any form needs, with a page that says so, before it is read.

    Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) counts only form fields and answers a bare 400;
    a file part would be read to disk whatever its size. This looks at Content-Length first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.REQUEST_BODY_MAX_BYTES:
            from django.shortcuts import render

            if request.path_info.startswith("/api/"):
                response = api_problem(
                    request,
                    "too-large",
                    _lazy("The request body is larger than %(limit)s KiB."),
                    {"limit": settings.REQUEST_BODY_MAX_BYTES // 1024},
                )
                response["Connection"] = "close"
                return response

            response = render(
                request,
                "portal/request_too_large.html",
                {"limit_kib": settings.REQUEST_BODY_MAX_BYTES // 1024},
                status=413,
            )
            response["Connection"] = "close"  # the rest of the body is not read
            return response
        return self.get_response(request)


def api_problem(request, slug: str, detail, params: dict | None = None):
    """The self-service API answers its callers in problem details (RFC 9457), even from a middleware."""
    from .api.problems import ApiProblem, problem_response
    from .api.views import api_language

    language = api_language(request)
    with translation.override(language):
        text = str(detail) % params if params else str(detail)
        response = problem_response(request, ApiProblem(slug, text))
    response["Content-Language"] = language
    response["Cache-Control"] = "no-store"  # as every API answer
    return response


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every response to a logged-in person and on every PDF.

    Pages show people's organisations, orders and signatures; a shared computer's browser cache or a
    proxy must not keep them. Static files never get here (WhiteNoise answers before).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        is_pdf = response.get("Content-Type", "").startswith("application/pdf")
        if is_pdf or (user is not None and user.is_authenticated):
            from django.utils.cache import add_never_cache_headers, patch_cache_control

            add_never_cache_headers(response)
            patch_cache_control(response, private=True)
        return response


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def identity_provider_origins() -> list[str]:
    """Where a form's answer may send the browser on: the configured identity providers.

    Their issuer and any endpoint given in the settings; ID-porten answers the browser on
    `login.<issuer host>` (login.idporten.no for idporten.no). Read per request, no network.
    """
    origins = set(settings.CSP_FORM_ACTION_EXTRA)
    for name, provider in settings.OIDC_PROVIDERS.items():
        urls = [
            provider.get("issuer", ""),
            provider.get("authorization_endpoint"),
            provider.get("end_session_endpoint"),
        ]
        if name == "idporten":
            urls.append((provider.get("issuer") or "").replace("://", "://login.", 1))
        origins.update(origin for url in urls if (origin := _origin(url)))
    return sorted(origins)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the identity providers added to form-action.

    Chrome applies form-action to the redirects that answer a form: logout posts here and is sent on
    to the provider's end-session endpoint, which must therefore be allowed.
    """

    def get_policy_parts(self, request, response, report_only: bool = False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        origins = identity_provider_origins()
        if report_only or not origins:
            return parts
        update = dict(parts.update or {})
        update["form-action"] = [*update.get("form-action", []), *origins]
        return replace(parts, update=update)


class RefuseUnsafeTextMiddleware:
    """Refuse NUL characters and lone surrogates in any request, in one place, with a clear page (400).

    Checked: the path, the query string, form fields (names and values), uploaded file names and the
    User-Agent (kept with signatures).

    They reach Django through `%00` in a URL, a query string or a form, and through a form posted
    with a charset such as UTF-7 that can carry half a character. Nothing is stored or looked up with
    them: the view never runs. Django's own `ProhibitNullCharactersValidator` covers only CharFields;
    raw `request.POST.get(...)` lookups, choice fields and path parameters are covered here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.shortcuts import render

        from .text import find_unsafe, unsafe_values

        fields = ["path"] if find_unsafe(request.path_info) else []
        if find_unsafe(request.headers.get("User-Agent", "")):  # stored with every signature
            fields.append("User-Agent")
        fields += unsafe_values(request.GET)
        if request.method == "POST":
            fields += unsafe_values(request.POST)
            fields += [name for name, upload in request.FILES.items() if find_unsafe(upload.name or "")]
        if fields:
            if request.path_info.startswith("/api/"):
                return api_problem(
                    request, "bad-request", _lazy("The request contains characters that cannot be used.")
                )
            response = render(request, "portal/refused_input.html", status=400)
            if getattr(request, "htmx", False):
                # htmx swaps nothing on a 4xx; show the refusal as the whole page instead.
                response["HX-Retarget"] = "body"
                response["HX-Reswap"] = "innerHTML"
            return response
        return self.get_response(request)
