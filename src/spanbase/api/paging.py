"""The DRF-style list envelope (spec §1.3): total in `count` and `total_count`, absolute `next` and
`previous` URLs, and a page past the end answered with an empty `results`, never a 404."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from spanbase.domain.queries import PageRequest


def envelope(request: Request, page: PageRequest, total: int, results: list[Any], **extra: Any) -> dict[str, Any]:
    def link(number: int) -> str:
        return str(request.url.include_query_params(page=number, page_size=page.size))

    last = max(1, -(-total // page.size))
    return {
        "count": total,
        "total_count": total,
        "next": link(page.page + 1) if page.page < last else None,
        "previous": link(min(page.page - 1, last)) if page.page > 1 else None,
        "results": results,
        **extra,
    }
