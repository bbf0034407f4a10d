"""The URL patterns as the resolver has them, filled with one side's objects (for the suites in tests/portal)."""

import re
from dataclasses import dataclass

from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.portal.url_registry import GLOBAL_PARAMETERS, PARAMETERS, Entry


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    params: tuple[str, ...]


def _params(pattern) -> tuple[str, ...]:
    converters = getattr(pattern.pattern, "converters", None)
    if converters:
        return tuple(converters)
    regex = getattr(pattern.pattern, "regex", None)
    return tuple(regex.groupindex) if regex is not None else ()


def _walk(patterns, prefix="", namespace=None, inherited=()):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = ":".join(part for part in (namespace, pattern.namespace) if part) or None
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns, inherited + _params(pattern))
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name or route
            yield Route(name=name, pattern=route, params=inherited + _params(pattern))


def all_routes() -> list[Route]:
    """Every URL pattern, once per name (the first, as `reverse` picks)."""
    routes: dict[str, Route] = {}
    for route in _walk(get_resolver().url_patterns):
        routes.setdefault(route.name, route)
    return list(routes.values())


OBJECT_PARAMS = frozenset(PARAMETERS) - {"org_number", "client_id"}


# Parameters that name the container of the others (the organisation, the client): the IDOR variant
# takes these from the persona's own side and the rest from the foreign one.
CONTAINER_PARAMS = ("org_number", "client_id")


def fill(route: Route, entry: Entry, world, *, objects, container=None) -> str:
    """The URL with each object parameter taken from `objects` (a side); containers from `container` if given."""
    kwargs = {}
    for param in route.params:
        if param in entry.params:
            value = entry.params[param]
            kwargs[param] = value(objects) if callable(value) else value
        elif param == "decision" and entry.decision:
            kwargs[param] = entry.decision
        elif param in CONTAINER_PARAMS:
            kwargs[param] = PARAMETERS[param](container or objects, entry)
        elif param in PARAMETERS:
            kwargs[param] = PARAMETERS[param](objects, entry)
        elif param in GLOBAL_PARAMETERS:
            kwargs[param] = GLOBAL_PARAMETERS[param](world)
        else:
            raise AssertionError(
                f"URL {route.name} ({route.pattern}) has a parameter {param!r} the suites cannot fill: add it to "
                "PARAMETERS (an organisation's object) or GLOBAL_PARAMETERS in tests/portal/url_registry.py."
            )
    try:
        return reverse(route.name, kwargs=kwargs)
    except Exception:  # e.g. a regex the made-up value does not fit
        return "/" + re.sub(r"<[^>]+>|\(\?P<[^>]+>[^)]*\)|[\^$]", "x", route.pattern)


def snapshot_query() -> str:
    """One statement: per table of ours, its row count and a digest of every row."""
    from django.apps import apps

    tables = sorted(
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.app_label in {"members", "orders", "portal", "account", "mfa", "auth"}
        and not model._meta.proxy
        and model._meta.managed
        and model._meta.db_table != "portal_workerheartbeat"
    )
    return " UNION ALL ".join(
        f"SELECT '{table}', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "  # noqa: S608
        f'FROM "{table}" t'  # table names from the models, not from input
        for table in tables
    )


def snapshot(query: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(query)
        return {table: (count, digest) for table, count, digest in cursor.fetchall()}


def changed(before: dict, after: dict) -> list[str]:
    return sorted(table for table in before if before[table] != after[table])
