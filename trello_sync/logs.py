"""Logging set-up, with a filter that removes secret values from every record.

Records may carry structured fields (`log.info("...", extra={"fields": {...}})`): the JSON
format puts them beside the message, the text format keeps only the message (which says
the same for a person); the filter redacts secrets in both.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from typing import IO, Any

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replace each secret value wherever it appears: message, arguments, exception."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Very short values would redact ordinary words; real keys and tokens are long.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = self.redact(record.getMessage())
        if record.exc_info:
            formatter = logging.Formatter()
            message += "\n" + self.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = message, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {key: self._redact_value(value) for key, value in fields.items()}
        return True

    def _redact_value(self, value: Any) -> Any:
        return self.redact(value) if isinstance(value, str) else value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}) or {})
        if record.exc_info:  # only without secrets: the filter folds it into the message
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def setup_logging(
    secrets: Iterable[str],
    *,
    debug: bool = False,
    json_format: bool = False,
    stream: IO[str] | None = None,
) -> RedactSecrets:
    """One handler on the root logger (standard error by default), secrets redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    redactor = RedactSecrets(secrets)
    handler.addFilter(redactor)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    # Our own logger speaks at INFO by default; libraries only from WARNING.
    logging.getLogger("trello_sync").setLevel(logging.DEBUG if debug else logging.INFO)
    return redactor
