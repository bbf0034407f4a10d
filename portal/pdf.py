"""PDF documents (receipts, order confirmations, client sheets) rendered from templates with WeasyPrint."""

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string

# WeasyPrint takes a few hundred milliseconds a page; the HTML costs milliseconds. The same HTML (same
# content, language and minute on the sheet) is the same document, so it is laid out once and kept a while.
PDF_CACHE_SECONDS = 600


def render_pdf(template_name: str, context: dict) -> bytes:
    html = render_to_string(template_name, context)
    key = "pdf:" + hashlib.sha256(f"{template_name}\n{html}".encode()).hexdigest()
    document = cache.get(key)
    if document is None:
        from weasyprint import HTML  # imported here: pango is only needed when a PDF is made

        document = HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
        cache.set(key, document, PDF_CACHE_SECONDS)
    return document
