"""PDF documents (receipts, order confirmations) rendered from templates with WeasyPrint."""

from django.conf import settings
from django.template.loader import render_to_string


def render_pdf(template_name: str, context: dict) -> bytes:
    from weasyprint import HTML  # imported here: pango is only needed when a PDF is made

    html = render_to_string(template_name, context)
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
