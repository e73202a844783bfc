"""Every error answer in the Respan shapes (spec §1.5): {"detail": ...}, plus "errors" per field on 422.

Nothing escapes as a framework default: FastAPI's own 422 shape and Starlette's HTML errors are replaced,
and an unexpected exception becomes a logged 500 with {"detail"}.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from spanbase.api.responses import JSONResponse
from spanbase.domain.errors import (
    BadRequest,
    FieldError,
    NotFound,
    Overloaded,
    StoreUnavailable,
    TooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from spanbase.ingest.ingestor import InvalidBody, MalformedJSON, field_name

log = logging.getLogger(__name__)


def validation_error(errors: dict[str, list[str]]) -> JSONResponse:
    return JSONResponse({"detail": "Validation error", "errors": errors}, status_code=422)


def detail(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(InvalidBody)
    async def _invalid(_: Request, exc: InvalidBody) -> JSONResponse:
        return validation_error(exc.errors)

    @app.exception_handler(FieldError)
    async def _field(_: Request, exc: FieldError) -> JSONResponse:
        return validation_error({exc.field: [exc.message]})

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors: dict[str, list[str]] = {}
        for e in exc.errors():
            loc = [p for p in e["loc"] if p not in ("body", "query", "path")]
            errors.setdefault(field_name(loc), []).append(str(e["msg"]))
        return validation_error(errors)

    @app.exception_handler(BadRequest)
    async def _bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return detail(400, str(exc))

    @app.exception_handler(MalformedJSON)
    async def _malformed(_: Request, exc: MalformedJSON) -> JSONResponse:
        return detail(400, str(exc))

    @app.exception_handler(UnsupportedMediaType)
    async def _media_type(_: Request, exc: UnsupportedMediaType) -> JSONResponse:
        return detail(415, str(exc))

    @app.exception_handler(TooLarge)
    async def _too_large(_: Request, exc: TooLarge) -> JSONResponse:
        return detail(413, str(exc))

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        # OTLP exporters retry a 503 with Retry-After; Respan clients retry a 429 (spec §1.5).
        status = 503 if request.url.path.rstrip("/").endswith("/traces") else 429
        return JSONResponse(
            {"detail": "Rate limit exceeded: the write queue is full", "retry_after": exc.retry_after},
            status_code=status,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return detail(503, str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return detail(401, str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return detail(404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return detail(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return detail(500, "Internal server error")
