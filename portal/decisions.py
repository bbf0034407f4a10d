"""NHN staff's decisions on a row (approve, reject with a reason, ...), shared by the staff queues."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render


def staff_decide(request, *, obj, obj_name: str, decision: str, decisions: dict, row_template: str, detail_url: str):
    """Run one of `decisions` ({slug: (service, needs_reason, done_message)}) on `obj`.

    From an htmx queue the row comes back rendered, with the error or the confirmation in it;
    otherwise the person is sent to the detail page with a message.
    """
    if decision not in decisions:
        raise Http404
    service, needs_reason, done_message = decisions[decision]
    kwargs = {obj_name: obj, "by": request.user, "request": request}
    if needs_reason:
        kwargs["reason"] = request.POST.get("reason", "")
    error = None
    try:
        service(**kwargs)
    except ValidationError as exc:
        error = exc.messages[0]
    if request.htmx and request.POST.get("from") == "queue":
        obj.refresh_from_db()
        context = {obj_name: obj, "error": error, "done": None if error else done_message}
        return render(request, row_template, context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done_message)
    return redirect(detail_url)
