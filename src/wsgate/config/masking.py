"""Which environment values ``wsgate check`` hides: secrets are masked, names shown.

The rule, by the variable's name split into words (at ``_``, ``-``, ``.`` and where a
lower-case letter meets a capital, so ``DB_PASSWORD``, ``apiKey`` and ``client-secret``
each have a word of their own):

1. A name with a word among :data:`SECRET_WORDS` (``SECRET``, ``PASSWORD``, ``TOKEN``,
   ``KEY``, ``CREDENTIALS``, ...) holds a secret: its value is masked.
2. Unless its last word says it names a thing rather than holds a secret
   (:data:`REFERENCE_WORDS`: ``NAME``, ``TABLE``, ``ARN``, ``ID``, ``URL``, ...):
   ``API_KEYS_TABLE``, ``TOKEN_TABLE_NAME``, ``SECRET_ARN`` and ``KMS_KEY_ID`` are shown.
3. Whatever the name, the password of a URL (``postgres://user:PASSWORD@host/db``) is
   masked, the rest of the URL shown.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit


__all__ = ["MASK", "REFERENCE_WORDS", "SECRET_WORDS", "is_secret_name", "mask_value"]

MASK = "********"
"""What a masked value shows: the same whatever the value's length."""

SECRET_WORDS = frozenset(
    {
        "SECRET",
        "SECRETS",
        "PASSWORD",
        "PASSWORDS",
        "PASSWD",
        "PWD",
        "PASSPHRASE",
        "TOKEN",
        "TOKENS",
        "KEY",
        "KEYS",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
        "CREDS",
        "PRIVATE",
        "SIGNATURE",
        "SALT",
        "DSN",
    }
)
"""Words that make a variable's value a secret."""

REFERENCE_WORDS = frozenset(
    {
        "NAME",
        "TABLE",
        "ARN",
        "ID",
        "URL",
        "URI",
        "ENDPOINT",
        "HOST",
        "PATH",
        "FILE",
        "BUCKET",
        "QUEUE",
        "TOPIC",
        "STREAM",
        "REGION",
        "HEADER",
        "PARAM",
        "PARAMETER",
        "FIELD",
        "TTL",
        "TYPE",
        "LENGTH",
        "SIZE",
        "ALGORITHM",
    }
)
"""Last words that make a name refer to a thing (a table, an ARN, a URL), not hold a
secret; a URL's password is still masked (rule 3)."""

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def _words(name: str) -> list[str]:
    return [word.upper() for word in _WORD.findall(name)]


def is_secret_name(name: str) -> bool:
    """Whether the variable ``name`` holds a secret by the module's rule (1 and 2)."""
    words = _words(name)
    if not any(word in SECRET_WORDS for word in words):
        return False
    return words[-1] not in REFERENCE_WORDS


def mask_value(name: str, value: str) -> str:
    """``value`` as ``wsgate check`` shows it: :data:`MASK` for a secret, a URL without
    its password, else unchanged."""
    if is_secret_name(name) and value:
        return MASK
    return _mask_url_password(value)


def _mask_url_password(value: str) -> str:
    if "://" not in value or "@" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return value
    if not password:
        return value
    user = parts.username or ""
    netloc = parts.netloc.replace(f"{user}:{password}@", f"{user}:{MASK}@", 1)
    return parts._replace(netloc=netloc).geturl()
