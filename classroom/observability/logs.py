"""Logging set-up: human-readable lines in a terminal, JSON lines for log shippers.

Events (join, leave, errors) carry session and member ids, never tokens or secrets.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

EVENTS = logging.getLogger("classroom.events")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aioice and aiortc log every ICE check and packet at INFO/DEBUG.
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def event(name: str, fields: dict[str, Any]) -> None:
    """One structured event: `name` plus its fields as JSON-safe extras."""
    safe = {k: v for k, v in fields.items() if "token" not in k and "secret" not in k}
    EVENTS.info(
        "%s %s", name, " ".join(f"{k}={v}" for k, v in safe.items()), extra={"event": name, **safe}
    )
