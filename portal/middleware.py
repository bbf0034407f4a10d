from django.conf import settings
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils import translation


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

            response = render(
                request,
                "portal/request_too_large.html",
                {"limit_kib": settings.REQUEST_BODY_MAX_BYTES // 1024},
                status=413,
            )
            response["Connection"] = "close"  # the rest of the body is not read
            return response
        return self.get_response(request)


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
