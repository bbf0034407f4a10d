"""``{% row_url %}``: ``{% url %}`` for the links repeated on every row of a list page.

``reverse()`` walks the URL resolver each time: on a page of 50 rows with four links each it was
close to half the rendering (issue 15). Rows link to the same views with different ids, so this tag
reverses once per view and argument shape, with stand-in values, and then fills each row's values
into that URL. Only values that fill in safely take the short way: UUIDs, and strings of digits of
the same length as the stand-in (organisation numbers); literal arguments in the template are part
of the shape. Anything else (keyword arguments, other values) goes through ``{% url %}`` itself,
so the tag is never wrong where the short way does not apply, only slower.

    {% load row_urls %}
    <a href="{% row_url 'order_detail' order.public_id %}">…</a>
    {% row_url 'staff_order_decide' order.public_id 'godkjenn' as approve_url %}
"""

import uuid

from django import template
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as url_tag
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

register = template.Library()

# (view name, argument shape, script prefix, URLconf, current app) → the URL split around its
# arguments, or None where the short way does not apply. Bounded: the shapes come from templates.
_FILLERS: dict[tuple, list[str] | None] = {}


def _shape(node: URLNode, values: list) -> tuple | None:
    shape = []
    for expression, value in zip(node.args, values, strict=True):
        if isinstance(value, uuid.UUID):
            shape.append(("uuid",))
        elif isinstance(value, str) and value.isascii() and value.isdigit():
            shape.append(("digits", len(value)))
        elif not expression.is_var:
            shape.append(("literal", value))
        else:
            return None
    return tuple(shape)


def _stand_in(kind: tuple, position: int):
    if kind[0] == "uuid":
        return uuid.UUID(int=position + 1)
    if kind[0] == "digits":
        return str(position + 1).zfill(kind[1])[-kind[1] :]
    return kind[1]


def _filler(view_name: str, shape: tuple, current_app) -> list[str] | None:
    """The URL reversed with stand-ins, split where each stand-in stands; None if that is ambiguous."""
    stand_ins = [_stand_in(kind, position) for position, kind in enumerate(shape)]
    try:
        url = reverse(view_name, args=stand_ins, current_app=current_app)
    except NoReverseMatch:
        return None
    parts, start = [], 0
    for kind, stand_in in zip(shape, stand_ins, strict=True):
        if kind[0] == "literal":
            continue
        text = str(stand_in)
        if not text or url.count(text) != 1 or url.find(text) < start:
            return None
        found = url.find(text)
        parts.append(url[start:found])
        start = found + len(text)
    parts.append(url[start:])
    return parts


def row_reverse(view_name: str, *args) -> str:
    """``reverse(view_name, args=args)`` for code that builds many rows: the same short way as the tag.

    UUIDs and strings of digits fill in; any other argument is taken as a constant of the call site
    (a decision's slug), part of the shape. Values that fill in nothing go through ``reverse()``.
    """
    shape = []
    for value in args:
        if isinstance(value, uuid.UUID):
            shape.append(("uuid",))
        elif isinstance(value, str) and value.isascii() and value.isdigit():
            shape.append(("digits", len(value)))
        else:
            shape.append(("literal", value))
    key = (view_name, tuple(shape), get_script_prefix(), get_urlconf(), None)
    if key not in _FILLERS:
        _FILLERS[key] = _filler(view_name, key[1], None)
    parts = _FILLERS[key]
    if parts is None:
        return reverse(view_name, args=args)
    filled = [str(value) for kind, value in zip(shape, args, strict=True) if kind[0] != "literal"]
    return parts[0] + "".join(value + part for value, part in zip(filled, parts[1:], strict=True))


class RowUrlNode(URLNode):
    def render(self, context):
        if self.kwargs:
            return super().render(context)
        values = [arg.resolve(context) for arg in self.args]
        shape = _shape(self, values)
        if shape is None:
            return super().render(context)
        view_name = self.view_name.resolve(context)
        request = getattr(context, "request", None)
        current_app = getattr(request, "current_app", None) or getattr(
            getattr(request, "resolver_match", None), "namespace", None
        )
        key = (view_name, shape, get_script_prefix(), get_urlconf(), current_app)
        if key not in _FILLERS:
            _FILLERS[key] = _filler(view_name, shape, current_app)
        parts = _FILLERS[key]
        if parts is None:
            return super().render(context)
        filled = [str(value) for kind, value in zip(shape, values, strict=True) if kind[0] != "literal"]
        url = parts[0] + "".join(value + part for value, part in zip(filled, parts[1:], strict=True))
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def row_url(parser, token):
    node = url_tag(parser, token)
    return RowUrlNode(node.view_name, node.args, node.kwargs, node.asvar)
