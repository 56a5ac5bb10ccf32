"""Credentials out of URLs before they are shown: config errors, CLI output and every log line.

A URL's userinfo (``user:password@`` in ``scheme://user:password@host``) is replaced by ``***``,
so ``mysql://u:TopSecret@h/x`` is shown as ``mysql://***@h/x``: the operator still sees which
host and database a value names, and nobody reading a terminal or a log file sees the password.
The username goes too: a NATS token (``nats://token@host``) sits exactly where a username does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["MASK", "redact_processor", "redact_text", "redact_url", "redact_value"]

MASK = "***"
# scheme://  then the authority up to its last '@' (a password may hold an unencoded '@'); the
# authority ends at '/', '?', '#', whitespace or a quote, as it would in a repr or a sentence.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s'\"<>]*)@")
_MAX_DEPTH = 4


def redact_url(url: str) -> str:
    """``url`` with its userinfo masked; a value without ``scheme://`` is treated as an authority
    (``u:p@h/x``), since that is how a URL-valued setting with a forgotten scheme looks."""
    if "://" in url:
        return redact_text(url)
    authority, sep, rest = url.partition("/")
    if "@" not in authority:
        return url
    return MASK + "@" + authority.rpartition("@")[2] + sep + rest


def redact_text(text: str) -> str:
    """Every ``scheme://userinfo@`` inside ``text`` masked; other text unchanged."""
    if "://" not in text:
        return text
    return _URL_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)


def redact_value(value: Any, _depth: int = 0) -> Any:
    """Strings redacted, and strings inside (nested) mappings, lists and tuples too."""
    if isinstance(value, str):
        return redact_text(value)
    if _depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {k: redact_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v, _depth + 1) for v in value)
    return value


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the userinfo of any URL in any value of the event is masked.

    Runs after exceptions are formatted, so a URL in a traceback's message is masked as well.
    """
    for key, value in event_dict.items():
        if isinstance(value, (str, Mapping, list, tuple)):
            event_dict[key] = redact_value(value)
    return event_dict
