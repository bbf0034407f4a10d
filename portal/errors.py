"""Error pages in the portal's layout and the person's language, each with a way onward (Django's own are bare
English). Wired as handler400/403/404/500 in portal.urls and as CSRF_FAILURE_VIEW."""

import logging

from django.http import HttpResponse
from django.shortcuts import render
from django.template import loader

log = logging.getLogger(__name__)


def bad_request(request, exception=None):
    return render(request, "400.html", status=400)


def permission_denied(request, exception=None):
    # Our PermissionDenied messages are written for the person ("Your role in this organisation does not allow this.").
    reason = str(exception) if exception and str(exception) else ""
    return render(request, "403.html", {"reason": reason}, status=403)


def csrf_failure(request, reason=""):
    return render(request, "403.html", {"csrf": True}, status=403)


def page_not_found(request, exception=None):
    return render(request, "404.html", status=404)


def server_error(request):
    # The request context may be what failed (a database down): then the same page without it.
    try:
        return render(request, "500.html", status=500)
    except Exception:
        log.exception("The 500 page could not be rendered with the request; rendering it without.")
    try:
        return HttpResponse(loader.get_template("500.html").render(), status=500)
    except Exception:
        return HttpResponse("500", content_type="text/plain", status=500)
