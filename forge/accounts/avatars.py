"""Avatars: a generated identicon for every account, or Gravatar's when the admin allows it.

An identicon is a 5 by 5 grid mirrored left to right, coloured and filled from a hash of the
account's id (not its name, so a rename keeps the picture), drawn as a PNG in the manner of
GitHub's default avatars. The same account always gets the same bytes, so they are computed
once per process and may be cached by browsers for as long as they like.

Gravatar's URL carries a hash of the account's e-mail address to a third party, which is why
forge only hands it out when FORGE_AVATARS=gravatar says the site wants that.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib

GRID = 5
CELL = 70  # pixels a grid cell takes
MARGIN = 35  # pixels around the grid: 420 x 420 in all, GitHub's size
SIZE = GRID * CELL + 2 * MARGIN
BACKGROUND = (240, 240, 240)
AVATAR_SOURCES = ("identicon", "gravatar")


def _colour(digest: bytes) -> tuple[int, int, int]:
    """A saturated, mid-light colour from the hash (HSL with fixed S and L, as GitHub's)."""
    hue = int.from_bytes(digest[-3:-1], "big") % 360 / 360
    saturation, lightness = 0.55, 0.55
    chroma = (1 - abs(2 * lightness - 1)) * saturation

    def channel(n: int) -> int:
        k = (n + hue * 12) % 12
        value = lightness - chroma / 2 * max(-1, min(k - 3, 9 - k, 1))
        return round(value * 255)

    return channel(0), channel(8), channel(4)


def _cells(digest: bytes) -> list[list[bool]]:
    """Which cells are filled: the left three columns from the hash, mirrored to the right."""
    rows = []
    for row in range(GRID):
        half = [digest[row * 3 + column] % 2 == 0 for column in range(3)]
        rows.append(half + half[1::-1])
    return rows


def _png(rows: list[bytes], width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every scanline
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


@functools.lru_cache(maxsize=1024)
def identicon_png(account_id: int) -> bytes:
    """The PNG identicon of an account: the same bytes every time for the same id."""
    digest = hashlib.sha256(f"forge-identicon:{account_id}".encode()).digest()
    colour, background = bytes(_colour(digest)), bytes(BACKGROUND)
    margin = background * MARGIN
    blank = background * SIZE
    rows = [blank] * MARGIN
    for cells in _cells(digest):
        line = margin + b"".join((colour if on else background) * CELL for on in cells) + margin
        rows.extend([line] * CELL)
    rows.extend([blank] * MARGIN)
    return _png(rows, SIZE, SIZE)


def gravatar_url(email: str) -> str:
    """Gravatar's picture for an address, falling back to its own identicon."""
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?d=identicon&s=420"
