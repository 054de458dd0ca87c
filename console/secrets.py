"""Keeping credentials off the screen, out of logs and out of JSON output."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_SENSITIVE_QUERY = re.compile(
    r"(?i)([?&](?:password|passwd|pwd|token|access_token|api_key|apikey|secret|auth|authsource_password)=)[^&#\s]*"
)
# user:password@ inside any URL-looking substring, e.g. in an exception message.
# The password runs to the last @ before the host, as URL parsers read it (p@ss is one password).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/@\s:]*):([^/\s]*)@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=\-]{6,}")
# "token XYZ" only when XYZ looks like a credential (has a digit): "invalid token provided" stays readable.
_TOKEN = re.compile(r"(?i)\b(token)\s+(?=[a-z._~+/=\-]*\d)[a-z0-9._~+/=\-]{6,}")

MASK = "***"


def redact_url(url: str) -> str:
    """The URL with any password (and sensitive query values) replaced by ***; the user name stays."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if sep else f"{user}@{hostport}"
    query = _SENSITIVE_QUERY.sub(lambda m: m.group(1) + MASK, "?" + parts.query)[1:] if parts.query else ""
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to mask: keep the original spelling (unix:///path stays as written)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask credentials inside free text (error messages quoting URLs, auth headers) and known values."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", text)
    text = _SENSITIVE_QUERY.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _TOKEN.sub(lambda m: f"{m.group(1)} {MASK}", text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text


def url_password(url: str) -> str | None:
    """The password embedded in a URL, so callers can also scrub it from foreign error strings."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None
