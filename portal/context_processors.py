from members.permissions import is_nhn_staff


def navigation(request):
    """What the header needs on every page, without queries."""
    user = getattr(request, "user", None)
    return {"show_staff_link": bool(user and is_nhn_staff(user))}
