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
            response = render(request, "portal/refused_input.html", status=400)
            if getattr(request, "htmx", False):
                # htmx swaps nothing on a 4xx; show the refusal as the whole page instead.
                response["HX-Retarget"] = "body"
                response["HX-Reswap"] = "innerHTML"
            return response
        return self.get_response(request)
