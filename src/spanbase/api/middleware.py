"""Pure ASGI middleware (no BaseHTTPMiddleware: it would copy every 100 MB body through a queue)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spanbase.api.metrics import Metrics


class TrailingSlash:
    """Answer `/api/x/` and `/api/x` alike. Respan paths end in "/" (Django style), the OTLP ones do
    not; redirecting instead would make clients re-send POST bodies (or drop them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope, path=path.rstrip("/") or "/")
        await self.app(scope, receive, send)


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(scope["method"], label, str(status)).inc()
