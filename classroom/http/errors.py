"""One error shape for the JSON API, and no stack traces for anyone.

API clients (scripts, the demo CLI, research exports) should never have to parse an HTML
error page: everything under ``/api/`` that fails becomes
``{"error": {"code", "message", "details"?}}`` with the fitting status; while the store
cannot be reached, 503 ``unavailable`` with ``Retry-After``. Pages keep aiohttp's
own 4xx handling; an unexpected exception there becomes a plain 500 page. Either way the
traceback goes to the log, not to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from classroom.http.keys import SUPERVISOR
from classroom.store.errors import Conflict, NotFound, StoreUnavailable

log = logging.getLogger(__name__)

API_PREFIX = "/api/"

#: Error codes for HTTP errors raised by aiohttp itself (router, body size limits, ...).
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

#: Retry-After (s) while an external Redis is unreachable: the node probes it this often.
#: (The embedded Valkey's supervisor knows when its next start is, and says that instead.)
RETRY_AFTER_S = 5

_PLAIN_503 = (
    "<!doctype html><html><head><meta charset=utf-8><title>Try again shortly</title>"
    "</head><body><h1>Try again in a moment</h1><p>The server is restarting a part of "
    "itself. Reload this page in a few seconds.</p></body></html>"
)

_PLAIN_500 = (
    "<!doctype html><html><head><meta charset=utf-8><title>Server error</title></head>"
    "<body><h1>Something went wrong</h1><p>The error has been logged. Please try again."
    "</p></body></html>"
)


class ApiError(Exception):
    """Raised by API handlers to answer with a JSON error.

    ``code`` is a stable machine-readable word (clients branch on it); ``message`` is for
    people; ``details`` carries structured specifics such as which field failed.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return web.json_response({"error": body}, status=status, headers=headers)


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    headers = {}
    allow = exc.headers.get("Allow")
    if allow is not None:
        headers["Allow"] = allow
    www_authenticate = exc.headers.get("WWW-Authenticate")
    if www_authenticate is not None:
        headers["WWW-Authenticate"] = www_authenticate
    code = _CODES.get(exc.status, "internal" if exc.status >= 500 else "http_error")
    message = exc.reason if exc.status < 500 else "internal server error"
    return error_response(exc.status, code, message, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Install outermost, so that errors from every other middleware are shaped too."""
    is_api = request.path.startswith(API_PREFIX)
    try:
        return await handler(request)
    except ApiError as exc:
        if not is_api:
            return web.Response(status=exc.status, text=exc.message, headers=exc.headers)
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except NotFound as exc:
        if not is_api:
            raise web.HTTPNotFound() from None
        return error_response(404, "not_found", str(exc))
    except Conflict as exc:
        if not is_api:
            raise web.HTTPConflict() from None
        return error_response(409, "conflict", str(exc))
    except StoreUnavailable:
        # The store is restarting or unreachable: said once by its supervisor (or the
        # probe), not once per request; the client is told when to come back.
        supervisor = request.app.get(SUPERVISOR)
        retry = supervisor.retry_after_s() if supervisor is not None else RETRY_AFTER_S
        headers = {"Retry-After": str(retry)}
        if not is_api:
            return web.Response(
                status=503, text=_PLAIN_503, content_type="text/html", headers=headers
            )
        return error_response(
            503,
            "unavailable",
            "the server cannot reach its data store right now; try again shortly",
            headers=headers,
        )
    except web.HTTPException as exc:
        if not is_api or exc.status < 400:
            raise
        if exc.status >= 500:
            log.error("HTTP %d on %s %s", exc.status, request.method, request.path)
        return _from_http_exception(exc)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if is_api:
            return error_response(500, "internal", "internal server error")
        return web.Response(status=500, text=_PLAIN_500, content_type="text/html")
