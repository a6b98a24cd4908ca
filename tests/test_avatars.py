"""Every account has a picture: the API's avatar_url points at an identicon forge draws and
serves itself, the same one every time, which browsers and clients may cache; an admin who
wants Gravatar's pictures instead says so with FORGE_AVATARS=gravatar."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import replace

import pytest
import requests

from forge.config import ConfigError, Settings


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw scanlines of an 8-bit RGB PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 2)
    chunks, offset = b"", 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return width, height, zlib.decompress(chunks)


def test_avatar_url_is_an_identicon_forge_serves_the_same_each_time(
    api, live_server, make_user, make_token
):
    make_user("alice")
    make_user("bob")
    token = make_token("alice")
    alice = api("GET", "/user", token).json()
    bob = api("GET", "/users/bob", token).json()
    assert alice["avatar_url"] == f"{live_server}/avatars/alice.png"

    first = requests.get(alice["avatar_url"], timeout=30)
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "image/png"
    assert "public" in first.headers["Cache-Control"]
    assert "max-age=86400" in first.headers["Cache-Control"]
    width, height, pixels = _png_pixels(first.content)
    assert (width, height) == (420, 420)
    assert len(pixels) == height * (1 + width * 3)
    stride = 1 + width * 3
    rows = [pixels[y * stride + 1 : (y + 1) * stride] for y in range(height)]
    points = [[row[x : x + 3] for x in range(0, len(row), 3)] for row in rows]
    assert len({p for row in points for p in row}) == 2, "a coloured pattern on a background"
    assert all(row == row[::-1] for row in points), "the pattern mirrors left to right"

    again = requests.get(alice["avatar_url"], timeout=30)
    assert again.content == first.content
    unchanged = requests.get(
        alice["avatar_url"], headers={"If-None-Match": first.headers["ETag"]}, timeout=30
    )
    assert unchanged.status_code == 304
    assert requests.get(bob["avatar_url"], timeout=30).content != first.content

    # Every shape that embeds a user carries the same picture.
    created = api("POST", "/user/repos", token, json={"name": "pictures"}).json()
    assert created["owner"]["avatar_url"] == alice["avatar_url"]


def test_a_renamed_account_keeps_its_picture_and_an_unknown_one_has_none(
    live_server, make_user, database
):
    from forge.accounts import users as accounts

    make_user("carol")
    before = requests.get(f"{live_server}/avatars/carol.png", timeout=30).content
    with database.session() as session:
        user = accounts.get_user(session, "carol")
        user.name, user.lower_name = "caroline", "caroline"
    after = requests.get(f"{live_server}/avatars/caroline.png", timeout=30)
    assert after.status_code == 200
    assert after.content == before
    missing = requests.get(f"{live_server}/avatars/nobody-here.png", timeout=30)
    assert missing.status_code == 404


@pytest.fixture
def settings(request, settings):
    # A test that names the `gravatar` fixture runs on a site whose admin chose Gravatar.
    if "gravatar" in request.fixturenames:
        return replace(settings, avatars="gravatar")
    return settings


@pytest.fixture
def gravatar():
    """FORGE_AVATARS=gravatar for this test's forge (see `settings` above)."""


def test_the_admin_may_choose_gravatar_pictures(gravatar, make_user, make_token, app):
    make_user("dave", email=" Dave@Example.org")
    token = make_token("dave")
    client = app.test_client()
    body = client.get("/api/v3/user", headers={"Authorization": f"token {token}"}).get_json()
    digest = hashlib.md5(b"dave@example.org").hexdigest()
    assert body["avatar_url"] == f"https://www.gravatar.com/avatar/{digest}?d=identicon&s=420"


def test_forge_avatars_takes_identicon_or_gravatar_only(tmp_path):
    assert Settings.from_env({"FORGE_HOME": str(tmp_path)}).avatars == "identicon"
    chosen = Settings.from_env({"FORGE_HOME": str(tmp_path), "FORGE_AVATARS": "gravatar"})
    assert chosen.avatars == "gravatar"
    assert chosen.environment()["FORGE_AVATARS"] == "gravatar"
    with pytest.raises(ConfigError, match="FORGE_AVATARS must be one of identicon, gravatar"):
        Settings.from_env({"FORGE_HOME": str(tmp_path), "FORGE_AVATARS": "robohash"})
