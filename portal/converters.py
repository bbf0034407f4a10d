from django.urls import register_converter


class OrgNumberConverter:
    """Nine digits: organisation numbers in URLs, so words like `registrer` never match as one."""

    regex = "[0-9]{9}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(OrgNumberConverter, "orgnr")
