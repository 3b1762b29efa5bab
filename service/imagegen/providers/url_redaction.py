"""Keep credentials carried in URLs out of the HTTP client's own log lines.

httpx (webhook callbacks, the moderation guardrail) logs every request URL at INFO
("HTTP Request: POST https://…"), and aiohttp (provider calls) names URLs in its client
warnings. Some providers take the key as a query parameter (Google's `?key=`), Azure blob
and SAS URLs carry signatures, and an operator's api_base may hold `user:password@`. This
filter rewrites those parts of the clients' records before any handler sees them.
"""

from __future__ import annotations

import logging
import re

_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:key|api[-_]?key|access_token|token|sig|signature|x-amz-signature"
    r"|x-amz-credential|x-amz-security-token|code)=)[^&\s\"']+"
)
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s\"']+@")
REDACTED = "[redacted]"


def redact_url_secrets(text: str) -> str:
    """`text` with query-string credentials and URL user-info blanked out."""
    text = _QUERY_SECRET.sub(rf"\g<1>{REDACTED}", text)
    return _USERINFO.sub(rf"\g<1>{REDACTED}@", text)


class UrlSecretFilter(logging.Filter):
    """Redacts URL-borne credentials in a record's message, in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        redacted = redact_url_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install() -> None:
    """Attach the filter to the HTTP client loggers (once)."""
    # Filters apply to the logger a record is created on, not to its children: name them all.
    for name in (
        "httpx",
        "httpcore.connection",
        "httpcore.http11",
        "httpcore.http2",
        "httpcore.proxy",
        "aiohttp.client",
        "aiohttp.internal",
    ):
        logger = logging.getLogger(name)
        if not any(isinstance(f, UrlSecretFilter) for f in logger.filters):
            logger.addFilter(UrlSecretFilter())
