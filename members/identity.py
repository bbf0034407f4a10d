"""National identity numbers (*fødselsnummer* / *D-nummer*) as keyed hashes: the only form the portal keeps.

HMAC-SHA256 under ``IDENTITY_HASH_KEY`` (not a plain hash: Norway has few enough numbers that a
plain SHA-256 could be reversed by trying them all). Changing the key unlinks every federated
identity; people then link again on their next login.
"""

import hashlib
import hmac

from django.conf import settings


def normalise_pid(pid: str) -> str:
    return "".join(str(pid).split())


def pid_hash(pid: str) -> str:
    number = normalise_pid(pid)
    if not number:
        raise ValueError("An empty identity number cannot be hashed.")
    return hmac.new(settings.IDENTITY_HASH_KEY.encode(), number.encode(), hashlib.sha256).hexdigest()
