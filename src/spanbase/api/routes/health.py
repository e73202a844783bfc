"""Unauthenticated operational endpoints: /health and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from spanbase.api.responses import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
