"""Checking the public keys vendors upload for HelseID ``private_key_jwt`` client authentication.

A vendor's system signs its client assertions with a private key it keeps; the portal only ever
takes the public half, as a JSON Web Key (JWK), a JWK Set (``{"keys": [...]}``) or the URL of a
JWK Set. ``parse_keys`` checks pasted text, ``fetch_jwks`` fetches a JWKS URL and checks that.
Every key is imported with joserfc; nothing here does cryptography by hand.

What is accepted (HELSEID.md, "HelseID clients"; DOMAIN.md, "HelseID"): RSA keys of at least
2048 bits with ``alg`` PS256/PS384/PS512, and EC keys on P-256/P-384/P-521 with the matching
ES256/ES384/ES512. Each key needs a ``kid`` unique within the upload and among the client's
existing keys, and ``use``, if given, must be ``sig``. RS256/RS384/RS512 are refused because
HelseID refuses client assertions signed with them from 1 November 2026 (test) and 11 January
2027 (production).

A rejection is a ``KeyRejected`` (a Django ``ValidationError``) for the first problem found, with
a ``code`` (see ``CODES``); nothing in an upload is accepted if any key in it is rejected.
The order of the checks, per key, is: the entry is an object; private members (checked for every
key of an upload before anything else, so a private key anywhere is always what is reported);
``kty`` (``oct`` → ``symmetric``, others → ``kty_unsupported``); ``kid``; ``use``; ``alg``; RSA
modulus size / EC curve; and finally the import with joserfc. A symmetric key with ``k`` is
therefore reported as ``private_key``, without ``k`` as ``symmetric``.

The values of submitted keys are never logged or put into messages or params: rejections log
only the code and the key's position. Private values are not even passed to joserfc: only the
public members are imported.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from joserfc.jwk import ECKey, RSAKey
from joserfc.util import base64_to_int

from portal.text import find_unsafe

logger = logging.getLogger(__name__)

MAX_JWKS_BYTES = 64 * 1024
MAX_KID_LENGTH = 200  # ClientKey.kid
DEFAULT_FETCH_TIMEOUT = 5.0
MIN_RSA_BITS = 2048

RSA_ALGS = ("PS256", "PS384", "PS512")
EC_ALGS = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}  # alg → the curve it needs
ALLOWED_ALGS = (*RSA_ALGS, *EC_ALGS)
DEPRECATED_ALGS = ("RS256", "RS384", "RS512")
CURVE_BITS = {"P-256": 256, "P-384": 384, "P-521": 521}

# RFC 7517/7518: members that only a private (or symmetric) key has.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# The public members of each accepted key type, in the order the normalised JWK lists them.
PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}

# A pasted PEM private key, or JSON too broken to parse that still names a private member: the
# private key has left the vendor's system either way, so it is reported as one.
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_JSON_PRIVATE_MEMBER = re.compile(r'"(?:' + "|".join(PRIVATE_MEMBERS) + r')"\s*:')

MESSAGES = {
    "too_large": _("The key or key set is too large: at most %(limit)s KiB is accepted."),
    "malformed": _(
        "This is not a valid public key. Paste a JSON Web Key (JWK) or a JWK Set "
        '({"keys": [...]}) in JSON, as your system exports it.'
    ),
    "private_key": _(
        "This is a private key, not a public one. It was not stored. Because it has left your "
        "system, it must be considered exposed: generate a new key pair, keep the new private key "
        "in your system, replace the old key wherever it is used, and upload only the new public key."
    ),
    "symmetric": _(
        "Symmetric keys (kty “oct”) cannot be used: HelseID client authentication uses a key pair, "
        "and only its public key is uploaded here."
    ),
    "kty_unsupported": _("Only RSA and EC (elliptic curve) keys are accepted (kty “RSA” or “EC”)."),
    "kid_missing": _("The key has no key ID (“kid”). HelseID requires one; add it to the key."),
    "kid_duplicate": _("The key ID (“kid”) “%(kid)s” is already in use. Each key needs its own key ID."),
    "kid_invalid": _(
        "The key ID (“kid”) cannot be used: it must be at most %(limit)s characters of text, without a "
        "slash, a null character (U+0000) or half of a Unicode character (a lone surrogate)."
    ),
    "alg_missing": _(
        "The key does not say which algorithm it is for (“alg”). HelseID requires it: use PS256, "
        "PS384 or PS512 for RSA keys, or ES256, ES384 or ES512 for EC keys."
    ),
    "alg_deprecated": _(
        "The key is for %(alg)s. HelseID refuses client assertions signed with RS256, RS384 or "
        "RS512 from 1 November 2026 in the test environment and from 11 January 2027 in production. "
        "Use PS256, PS384 or PS512 (the same RSA key pair works with them) or ES256, ES384 or ES512."
    ),
    "alg_unsupported": _(
        "The algorithm “%(alg)s” is not accepted. Use PS256, PS384 or PS512 for RSA keys, or "
        "ES256, ES384 or ES512 for EC keys."
    ),
    "alg_mismatch": _(
        "The algorithm %(alg)s does not fit a key of type %(kty)s: RSA keys use PS256, PS384 or "
        "PS512, EC keys ES256, ES384 or ES512."
    ),
    "rsa_too_small": _("The RSA key has %(size)s bits; at least %(minimum)s bits are required."),
    "curve_unsupported": _("The curve “%(crv)s” is not accepted. Use P-256, P-384 or P-521."),
    "curve_mismatch": _(
        "The curve %(crv)s does not match the algorithm %(alg)s: ES256 needs P-256, ES384 needs "
        "P-384 and ES512 needs P-521."
    ),
    "use_not_sig": _("The key is marked for “%(use)s”; keys for HelseID client authentication must have use “sig”."),
    "url_scheme": _("The JWKS URL must be a valid https:// address without a user name or password."),
    "url_unreachable": _("The JWKS URL could not be reached. Check the address and try again."),
    "url_timeout": _("The JWKS URL did not answer within %(timeout)s seconds. Check the address and try again."),
    "url_error": _("The JWKS URL answered with HTTP status %(status)s instead of the key set."),
    "url_redirect": _(
        "The JWKS URL answered with a redirect (HTTP status %(status)s). Redirects are not followed; "
        "give the final address of the key set."
    ),
    "url_encoding": _("The JWKS URL answered with a compressed body; the portal asks for an uncompressed one."),
    "url_not_json": _("The JWKS URL did not answer with JSON but with content type “%(content_type)s”."),
    "url_not_json_body": _("The JWKS URL's answer is not valid JSON."),
}
# Messages that are variants of another code's: message key → code.
VARIANTS = {
    "kid_invalid": "malformed",
    "url_redirect": "url_error",
    "url_encoding": "url_error",
    "url_timeout": "url_unreachable",
    "url_not_json_body": "url_not_json",
}
# Every code a KeyRejected can carry.
CODES = frozenset(MESSAGES) - set(VARIANTS)


class KeyRejected(ValidationError):
    """One problem with an uploaded key; ``code`` says which (see ``CODES``).

    Constructed like any ``ValidationError`` (so it copies and pickles like one). ``params`` may hold
    ``position`` (1-based index of the key in the upload) and ``kid`` besides what the message itself
    uses; never a key's values.
    """


@dataclass(frozen=True)
class PublicKey:
    kid: str
    alg: str  # PS256 | PS384 | PS512 | ES256 | ES384 | ES512
    kty: str  # "RSA" | "EC"
    crv: str  # "" for RSA, else "P-256" | "P-384" | "P-521"
    size: int  # RSA modulus bits, or curve bits (256/384/521)
    thumbprint: str  # RFC 7638 SHA-256 thumbprint (base64url), from joserfc
    jwk: dict = field(hash=False)  # public members only: kty, kid, use="sig", alg, n/e or crv/x/y


def _reject(code: str, *, message_key: str | None = None, **params: Any) -> KeyRejected:
    """The rejection, logged by code and position only."""
    logger.info("Public key rejected: %s (key %s)", message_key or code, params.get("position", "-"))
    return KeyRejected(MESSAGES[message_key or code], code=code, params=params)


# --- parsing -------------------------------------------------------------------------------------


def parse_keys(text: str | bytes, *, existing_kids: Iterable[str] = ()) -> list[PublicKey]:
    """The public keys in ``text`` (a JWK or a JWKS in JSON), or ``KeyRejected`` for the first problem."""
    if isinstance(text, bytes):
        size = len(text)
        text = text.decode("utf-8", errors="replace")
    else:
        size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_JWKS_BYTES:
        raise _reject("too_large", limit=MAX_JWKS_BYTES // 1024)

    data = _load_json(text)
    if data is None:
        # Broken JSON (or PEM) that still shows a private key is reported as the exposure it is.
        if _PEM_PRIVATE.search(text) or _JSON_PRIVATE_MEMBER.search(text):
            raise _reject("private_key")
        raise _reject("malformed")

    entries = _entries(data)
    # A private key anywhere in the upload matters more than any other problem in it.
    for position, entry in enumerate(entries, start=1):
        if isinstance(entry, dict) and any(member in entry for member in PRIVATE_MEMBERS):
            raise _reject("private_key", position=position)

    taken = set(existing_kids)
    keys = []
    for position, entry in enumerate(entries, start=1):
        key = _check_key(entry, position, taken)
        taken.add(key.kid)
        keys.append(key)
    return keys


def _load_json(text: str) -> Any:
    """The parsed JSON, or None. The parser's error (which holds the text) is not kept."""
    try:
        return json.loads(text)
    except ValueError:  # JSONDecodeError, and numbers too long to convert
        return None
    except RecursionError:
        return None


def _entries(data: Any) -> list[Any]:
    if not isinstance(data, dict):
        raise _reject("malformed")
    if "keys" not in data:
        return [data]  # a single JWK
    keys = data["keys"]
    if not isinstance(keys, list) or not keys:
        raise _reject("malformed")
    return keys


def _check_key(entry: Any, position: int, taken: set[str]) -> PublicKey:
    if not isinstance(entry, dict):
        raise _reject("malformed", position=position)

    kty = entry.get("kty")
    if not isinstance(kty, str) or not kty:
        raise _reject("malformed", position=position)
    if kty == "oct":
        raise _reject("symmetric", position=position)
    if kty not in PUBLIC_MEMBERS:
        raise _reject("kty_unsupported", position=position)

    kid = entry.get("kid")
    if kid is None or (isinstance(kid, str) and not kid.strip()):
        raise _reject("kid_missing", position=position)
    if not isinstance(kid, str):
        raise _reject("malformed", position=position)
    if len(kid) > MAX_KID_LENGTH or "/" in kid or find_unsafe(kid):
        # Stored (200 characters), put in a URL path and sent to HelseID: refused rather than a 500.
        raise _reject("malformed", message_key="kid_invalid", position=position, limit=MAX_KID_LENGTH)
    if kid in taken:
        raise _reject("kid_duplicate", position=position, kid=kid[:100])

    use = entry.get("use")
    if use is not None and use != "sig":
        raise _reject("use_not_sig", position=position, kid=kid, use=str(use)[:20])

    alg = entry.get("alg")
    if alg is None or alg == "":
        raise _reject("alg_missing", position=position, kid=kid)
    if not isinstance(alg, str):
        raise _reject("malformed", position=position, kid=kid)
    if alg in DEPRECATED_ALGS:
        raise _reject("alg_deprecated", position=position, kid=kid, alg=alg)
    if alg not in ALLOWED_ALGS:
        raise _reject("alg_unsupported", position=position, kid=kid, alg=alg[:20])
    if (kty == "RSA") != (alg in RSA_ALGS):
        raise _reject("alg_mismatch", position=position, kid=kid, alg=alg, kty=kty)

    members = {name: entry.get(name) for name in PUBLIC_MEMBERS[kty]}
    if not all(isinstance(value, str) and value for value in members.values()):
        raise _reject("malformed", position=position, kid=kid)

    crv = ""
    if kty == "RSA":
        # Checked before the import, which only warns about small keys.
        bits = _modulus_bits(members["n"])
        if bits is None:
            raise _reject("malformed", position=position, kid=kid)
        if bits < MIN_RSA_BITS:
            raise _reject("rsa_too_small", position=position, kid=kid, size=bits, minimum=MIN_RSA_BITS)
    else:
        crv = members["crv"]
        if crv not in CURVE_BITS:
            raise _reject("curve_unsupported", position=position, kid=kid, crv=crv[:20])
        if EC_ALGS[alg] != crv:
            raise _reject("curve_mismatch", position=position, kid=kid, crv=crv, alg=alg)

    imported = _import(kty, members)
    if imported is None:
        raise _reject("malformed", position=position, kid=kid)
    key, size = imported
    jwk = {"kty": kty, "kid": kid, "use": "sig", "alg": alg}
    jwk.update({name: key.dict_value[name] for name in PUBLIC_MEMBERS[kty]})
    return PublicKey(kid=kid, alg=alg, kty=kty, crv=crv, size=size, thumbprint=key.thumbprint(), jwk=jwk)


def _modulus_bits(n: str) -> int | None:
    try:
        return base64_to_int(n).bit_length()
    except (ValueError, TypeError):  # not base64url (binascii.Error is a ValueError), or empty
        return None


def _import(kty: str, members: dict[str, str]) -> tuple[RSAKey | ECKey, int] | None:
    """The key imported by joserfc and re-exported canonically (for the RFC 7638 thumbprint), with
    its size in bits; None when joserfc (or cryptography under it) cannot import it."""
    key_class = RSAKey if kty == "RSA" else ECKey
    try:
        key = key_class.import_key({"kty": kty, **members})
        # Re-import the native public key so members come out minimally encoded, whatever the upload did.
        canonical = key_class.import_key(key.public_key)
        size = canonical.public_key.key_size
    except Exception:  # untrusted input: any failure to import means "not a valid key"
        return None
    return canonical, size


# --- fetching ------------------------------------------------------------------------------------


def fetch_jwks(url: str, *, timeout: float | None = None, existing_kids: Iterable[str] = ()) -> list[PublicKey]:
    """Fetch the JWKS at ``url`` and check it like ``parse_keys``; ``KeyRejected`` for any problem."""
    if timeout is None:
        timeout = float(getattr(settings, "JWKS_FETCH_TIMEOUT", DEFAULT_FETCH_TIMEOUT))
    host = _check_url(url)
    body = _download(url, host, timeout)
    content = _decode_json_body(body, host)
    return parse_keys(content, existing_kids=existing_kids)


def _check_url(url: str) -> str:
    """The URL's host, if the portal may fetch from it; else ``url_scheme``."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port that is not a number
    except (ValueError, AttributeError):
        raise _reject("url_scheme") from None
    if not host or parts.username is not None or parts.password is not None:
        raise _reject("url_scheme")
    scheme = parts.scheme.lower()
    if scheme == "https":
        return host
    if scheme == "http" and _is_loopback(host) and getattr(settings, "JWKS_URL_ALLOW_LOOPBACK_HTTP", False):
        return host
    raise _reject("url_scheme")


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8 and ::1
    except ValueError:
        return False


def _download(url: str, host: str, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    headers = {"Accept": "application/jwk-set+json, application/json", "Accept-Encoding": "identity"}
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
            client.stream("GET", url.strip(), headers=headers) as response,
        ):
            problem = _check_response(response)
            if problem is not None:
                raise problem
            chunks, received = [], 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received > MAX_JWKS_BYTES:
                    raise _reject("too_large", limit=MAX_JWKS_BYTES // 1024)
                if time.monotonic() > deadline:  # a server trickling bytes slower than the timeout
                    raise httpx.ReadTimeout("JWKS body not received in time")
                chunks.append(chunk)
    except KeyRejected:
        raise
    except httpx.TimeoutException:
        logger.info("JWKS URL on %s timed out after %s s", host, timeout)
        raise _reject("url_unreachable", message_key="url_timeout", timeout=f"{timeout:g}") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise _reject("url_scheme") from None
    except httpx.HTTPError as error:
        logger.info("JWKS URL on %s unreachable: %s", host, type(error).__name__)
        raise _reject("url_unreachable") from None
    return b"".join(chunks)


def _check_response(response: httpx.Response) -> KeyRejected | None:
    status = response.status_code
    if 300 <= status < 400:
        return _reject("url_error", message_key="url_redirect", status=status)
    if status != 200:
        return _reject("url_error", status=status)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # Decompressing could turn the 64 KiB limit into many megabytes.
        return _reject("url_error", message_key="url_encoding", status=status)
    length = response.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > MAX_JWKS_BYTES:
        return _reject("too_large", limit=MAX_JWKS_BYTES // 1024)
    content_type = response.headers.get("content-type")
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            return _reject("url_not_json", content_type=media_type[:60])
    return None


def _decode_json_body(body: bytes, host: str) -> str:
    """The body as text, if it is JSON at all; the body itself is never part of a message."""
    try:
        content = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = None
    if content is None or _load_json(content) is None:
        logger.info("JWKS URL on %s answered with something that is not JSON", host)
        # Not "malformed": the problem is the URL's answer, not a key; but a private key is still one.
        if content is not None and (_PEM_PRIVATE.search(content) or _JSON_PRIVATE_MEMBER.search(content)):
            raise _reject("private_key")
        raise _reject("url_not_json", message_key="url_not_json_body")
    return content
