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
``kty`` (``oct`` → ``symmetric``, others → ``kty_unsupported``); ``kid`` (1 to 200 printable ASCII
characters without ``/`` or whitespace, not taken); ``use``; ``alg``; RSA
modulus size / EC curve; the import with joserfc; and finally the key material, which must not
already be on the client under any kid (RFC 7638 thumbprints compared). A symmetric key with ``k`` is
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
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx
import idna
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from joserfc.jwk import ECKey, RSAKey
from joserfc.util import base64_to_int

logger = logging.getLogger(__name__)

MAX_JWKS_BYTES = 64 * 1024
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
        "The key ID (“kid”) must be 1 to 200 printable ASCII characters (letters, digits and signs such "
        "as - _ . :) without “/”, spaces or other whitespace. A thumbprint or a random string works well."
    ),
    "key_duplicate": _(
        "This key is already on the client (key ID “%(kid)s”). A new key ID does not make it a new key: "
        "generate a new key pair for a rotation."
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
    "url_host": _("The host name in the JWKS URL is not a valid domain name."),
    "url_address": _(
        "The JWKS URL's host is, or resolves to, an internal address (such as loopback, private, "
        "link-local or reserved) that the portal does not fetch from. Publish the key set on a public "
        "https address, or paste the public key instead."
    ),
    "url_tls": _(
        "The JWKS URL's server did not present a valid certificate for its host name. The portal only "
        "fetches key sets over verified https."
    ),
    "url_unreachable": _("The JWKS URL could not be reached. Check the address and try again."),
    "url_timeout": _("The JWKS URL did not answer within %(timeout)s seconds. Check the address and try again."),
    "url_error": _("The JWKS URL did not answer with the key set. Check that the address is the key set's and public."),
    "url_redirect": _(
        "The JWKS URL answered with a redirect. Redirects are not followed; give the final address of the key set."
    ),
    "url_encoding": _("The JWKS URL answered with a compressed body; the portal asks for an uncompressed one."),
    "url_not_json": _("The JWKS URL did not answer with JSON (a JWK Set). Check that the address is the key set's."),
    "url_not_json_body": _("The JWKS URL's answer is not valid JSON."),
}
# Messages that are variants of another code's: message key → code.
VARIANTS = {
    "url_redirect": "url_error",
    "url_encoding": "url_error",
    "url_timeout": "url_unreachable",
    "url_not_json_body": "url_not_json",
    "url_tls": "url_unreachable",
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


def parse_keys(
    text: str | bytes, *, existing_kids: Iterable[str] = (), existing_keys: dict[str, str] | None = None
) -> list[PublicKey]:
    """The public keys in ``text`` (a JWK or a JWKS in JSON), or ``KeyRejected`` for the first problem.

    ``existing_keys`` maps the RFC 7638 thumbprints of the client's keys to their kids: the same key
    material is refused whatever kid it comes with.
    """
    if isinstance(text, bytes):
        size = len(text)
        text = text.decode("utf-8", errors="replace")
    else:
        size = len(text.encode("utf-8", errors="surrogatepass"))
    # A byte-order mark (editors on Windows add one) is not part of the JSON.
    text = text.removeprefix("\ufeff")
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

    existing_keys = dict(existing_keys or {})
    taken = set(existing_kids) | set(existing_keys.values())
    keys = []
    for position, entry in enumerate(entries, start=1):
        key = _check_key(entry, position, taken)
        if key.thumbprint in existing_keys:
            raise _reject("key_duplicate", position=position, kid=existing_keys[key.thumbprint])
        taken.add(key.kid)
        existing_keys[key.thumbprint] = key.kid
        keys.append(key)
    return keys


# RFC 7517 lets a kid be any string; HelseID, URLs and the portal's pages need a tame one.
_KID = re.compile(r"[\x21-\x2e\x30-\x7e]{1,200}")


def _shown(value: Any, limit: int = 20) -> str:
    """A submitted value made safe to put into a message: printable ASCII, escapes for anything else."""
    text = value if isinstance(value, str) else str(value)
    return "".join(c if 0x20 <= ord(c) < 0x7F else f"\\u{ord(c):04x}" for c in text[:limit])


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
    if not _KID.fullmatch(kid):
        raise _reject("kid_invalid", position=position)
    if kid in taken:
        raise _reject("kid_duplicate", position=position, kid=kid[:100])

    use = entry.get("use")
    if use is not None and use != "sig":
        raise _reject("use_not_sig", position=position, kid=kid, use=_shown(use))

    alg = entry.get("alg")
    if alg is None or alg == "":
        raise _reject("alg_missing", position=position, kid=kid)
    if not isinstance(alg, str):
        raise _reject("malformed", position=position, kid=kid)
    if alg in DEPRECATED_ALGS:
        raise _reject("alg_deprecated", position=position, kid=kid, alg=alg)
    if alg not in ALLOWED_ALGS:
        raise _reject("alg_unsupported", position=position, kid=kid, alg=_shown(alg))
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
            raise _reject("curve_unsupported", position=position, kid=kid, crv=_shown(crv))
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
#
# A JWKS URL is a vendor's input that makes the portal's server open a connection: it must never
# reach what only the server can reach (server-side request forgery). So: https only; the host is
# resolved once and every address it resolves to is checked (a name with one internal address is
# refused as a whole, so a vendor cannot race round-robin DNS); the connection goes to the checked
# address itself, with the host name kept for SNI and certificate verification, so a second lookup
# (DNS rebinding) cannot swap it; no redirects; a time and a size limit. What went wrong is said
# without the other server's status, headers or body.

# Networks Python's ``ipaddress`` does not already count as non-global, or that embed IPv4.
_EXTRA_REFUSED = [
    ipaddress.ip_network(net)
    for net in ("100.64.0.0/10", "0.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "::/96", "64:ff9b:1::/48")
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class _Target:
    host: str  # as the vendor wrote it, lower case (IPv6 without brackets)
    ascii_host: str  # the host for DNS, SNI and certificate checks (IDNA-encoded)
    port: int
    path: str  # path and query


def address_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address the portal never fetches a JWKS from, unless JWKS_FETCH_ALLOWED_ADDRESSES lists it."""
    if any(address in network for network in _allowed_networks() if network.version == address.version):
        return False
    return _internal(address)


def _internal(address) -> bool:
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and _internal(embedded):
            return True
    return (
        not address.is_global
        or address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
        or any(address in network for network in _EXTRA_REFUSED if network.version == address.version)
    )


def _allowed_networks() -> list:
    networks = []
    for entry in getattr(settings, "JWKS_FETCH_ALLOWED_ADDRESSES", None) or ():
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            logger.warning("JWKS_FETCH_ALLOWED_ADDRESSES: %r is not an address or network; ignored", entry)
    return networks


def fetch_jwks(
    url: str,
    *,
    timeout: float | None = None,
    existing_kids: Iterable[str] = (),
    existing_keys: dict[str, str] | None = None,
) -> list[PublicKey]:
    """Fetch the JWKS at ``url`` and check it like ``parse_keys``; ``KeyRejected`` for any problem."""
    if timeout is None:
        timeout = float(getattr(settings, "JWKS_FETCH_TIMEOUT", DEFAULT_FETCH_TIMEOUT))
    target = _check_url(url)
    addresses = _resolve(target)
    deadline = time.monotonic() + timeout
    for attempt, address in enumerate(addresses, start=1):
        try:
            body = _download(target, address, max(deadline - time.monotonic(), 0.05), timeout)
            break
        except _ConnectFailed:
            if attempt == len(addresses):
                raise _reject("url_unreachable") from None
    content = _decode_json_body(body, target.host)
    return parse_keys(content, existing_kids=existing_kids, existing_keys=existing_keys)


def _check_url(url: str) -> _Target:
    """Where the portal would fetch from, if it may; else ``url_scheme`` or ``url_host``."""
    if not isinstance(url, str) or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url.strip()):
        raise _reject("url_scheme")
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port  # raises ValueError for a port that is not a number or out of range
    except (ValueError, AttributeError):
        raise _reject("url_scheme") from None
    if not host or parts.username is not None or parts.password is not None or parts.scheme.lower() != "https":
        raise _reject("url_scheme")
    if port == 0:
        raise _reject("url_scheme")
    host = host.rstrip(".") if not host.startswith("[") else host
    try:
        ipaddress.ip_address(host)
        ascii_host = host
    except ValueError:
        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            raise _reject("url_host") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(host=host, ascii_host=ascii_host, port=port or 443, path=path)


class _ConnectFailed(Exception):
    """No connection to this address; the next of the host's (checked) addresses may answer."""


def _resolve(target: _Target) -> list:
    """The addresses to connect to: the host's, looked up once, every one of them allowed."""
    try:
        literal = ipaddress.ip_address(target.ascii_host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.ascii_host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            logger.info("JWKS URL host %s does not resolve", target.ascii_host)
            raise _reject("url_unreachable") from None
        addresses = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise _reject("url_unreachable")
    refused = [address for address in addresses if address_refused(address)]
    if refused:
        logger.info("JWKS URL host %s refused: resolves to an internal address", target.ascii_host)
        raise _reject("url_address")
    return addresses


def _ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=getattr(settings, "JWKS_FETCH_CA_FILE", None) or certifi.where())
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _download(target: _Target, address, timeout: float, nominal_timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    netloc = f"[{address}]" if address.version == 6 else str(address)
    host_header = target.ascii_host if ":" not in target.ascii_host else f"[{target.ascii_host}]"
    if target.port != 443:
        host_header += f":{target.port}"
    headers = {
        "Host": host_header,
        "Accept": "application/jwk-set+json, application/json",
        "Accept-Encoding": "identity",
    }
    # Connect to the checked address; the name goes into SNI and the certificate check.
    request_url = f"https://{netloc}:{target.port}{target.path}"
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, verify=_ssl_context(), trust_env=False) as client,
            client.stream(
                "GET", request_url, headers=headers, extensions={"sni_hostname": target.ascii_host}
            ) as response,
        ):
            problem = _check_response(response, target.host)
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
        logger.info("JWKS URL on %s timed out after %s s", target.host, nominal_timeout)
        raise _reject("url_unreachable", message_key="url_timeout", timeout=f"{nominal_timeout:g}") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise _reject("url_scheme") from None
    except httpx.ConnectError as error:
        if _caused_by_tls(error):
            logger.info("JWKS URL on %s: TLS handshake or certificate check failed", target.host)
            raise _reject("url_unreachable", message_key="url_tls") from None
        logger.info("JWKS URL on %s (%s) unreachable: %s", target.host, address, type(error).__name__)
        raise _ConnectFailed from None
    except httpx.HTTPError as error:
        logger.info("JWKS URL on %s unreachable: %s", target.host, type(error).__name__)
        raise _reject("url_unreachable") from None
    return b"".join(chunks)


def _caused_by_tls(error: BaseException) -> bool:
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 10:
        if isinstance(current, ssl.SSLError):
            return True
        current, seen = current.__cause__ or current.__context__, seen + 1
    return False


def _check_response(response: httpx.Response, host: str) -> KeyRejected | None:
    """A problem with the answer, if any; logged with the details, told without them."""
    status = response.status_code
    if 300 <= status < 400:
        logger.info("JWKS URL on %s answered with a redirect (%s)", host, status)
        return _reject("url_error", message_key="url_redirect")
    if status != 200:
        logger.info("JWKS URL on %s answered with HTTP status %s", host, status)
        return _reject("url_error")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # Decompressing could turn the 64 KiB limit into many megabytes.
        return _reject("url_error", message_key="url_encoding")
    length = response.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > MAX_JWKS_BYTES:
        return _reject("too_large", limit=MAX_JWKS_BYTES // 1024)
    content_type = response.headers.get("content-type")
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            logger.info("JWKS URL on %s answered with content type %.60s", host, media_type)
            return _reject("url_not_json")
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
