"""gzip for what the compression middleware should not do itself: assets and bulk streams.

The middleware compresses at one level for every response; an export of hundreds of megabytes
at that level takes the server's whole core (about 7 MB/s at level 9, against 60 MB/s at level
1 for 30% more bytes). Routes that compress themselves, or whose bodies are always too small to
gain (a submission's receipt), carry `opt={"skip_compression": True}`: the middleware then does
not even look at them.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncGenerator
from contextlib import aclosing

STREAM_LEVEL = 1


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header admits gzip (RFC 9110 §12.5.3): named with a
    non-zero weight, or not named and `*` has one. `gzip;q=0` refuses it."""
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if coding:
            weights[coding] = weight
    for coding in ("gzip", "x-gzip"):
        if coding in weights:
            return weights[coding] > 0
    return weights.get("*", 0.0) > 0


async def gzip_stream(chunks: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    """The chunks as one gzip stream, compressed in a thread as they come; closing it closes
    `chunks`."""
    packer = zlib.compressobj(STREAM_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    async with aclosing(chunks):
        async for chunk in chunks:
            # zlib lets go of the GIL: the event loop reads the next chunk meanwhile.
            if packed := await asyncio.to_thread(packer.compress, chunk):
                yield packed
    yield packer.flush()
