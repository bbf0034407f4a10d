"""Asking before a destructive action, without JavaScript: the action's URL answers GET with this page (what will
happen, in words a person understands) and POST with the action itself."""

from django.shortcuts import render


def confirm_page(
    request, *, title: str, consequence: str, confirm_label: str, back_url: str, details=(), irreversible=False
):
    context = {
        "title": title,
        "consequence": consequence,
        "details": list(details),
        "confirm_label": confirm_label,
        "back_url": back_url,
        "irreversible": irreversible,
    }
    return render(request, "portal/confirm.html", context)
