"""JSON responses rendered by orjson (several times faster than the stdlib for large span bodies)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, _Raw):
            return content.body
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)

    @classmethod
    def raw(cls, body: bytes, status_code: int = 200) -> JSONResponse:
        """A response of JSON text already written."""
        return cls(_Raw(body), status_code=status_code)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body
