"""Request bodies sent with Content-Encoding gzip or deflate, inflated to a bound.

The bound is checked while inflating, never after: a few kilobytes of gzip can inflate to gigabytes, so
the output is produced a chunk at a time and abandoned (413) as soon as it passes `limit`.
"""

from __future__ import annotations

import zlib

from spanbase.domain.errors import BadRequest, TooLarge

_CHUNK = 1 << 20
# wbits: gzip framing (16 + 15); deflate as HTTP means it, zlib framing (15), or raw deflate (-15),
# which some clients send under the same name.
_GZIP, _ZLIB, _RAW = 31, 15, -15


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """`body` as sent, decoded per its Content-Encoding (`identity` or none: as it is)."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        if len(body) > limit:
            raise TooLarge(f"the request body is over the {limit} byte limit")
        return body
    if name in ("gzip", "x-gzip"):
        return _inflate(body, _GZIP, limit, "gzip")
    if name == "deflate":
        wbits = _ZLIB if len(body) >= 2 and (body[0] << 8 | body[1]) % 31 == 0 and body[0] & 0x0F == 8 else _RAW
        return _inflate(body, wbits, limit, "deflate")
    raise BadRequest(f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or identity")


def _inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    parts: list[bytes] = []
    size = 0
    data = body
    try:
        while not inflater.eof:
            # At most limit + 1 bytes in all: one past the bound is enough to know it is over.
            part = inflater.decompress(data, min(_CHUNK, limit + 1 - size))
            size += len(part)
            if size > limit:
                raise TooLarge(f"the request body is over the {limit} byte limit once decompressed")
            parts.append(part)
            data = inflater.unconsumed_tail
            if not part and not data:
                raise BadRequest(f"the {name} body is truncated")
    except zlib.error as e:
        raise BadRequest(f"the body is not valid {name}: {e}") from None
    return b"".join(parts)
