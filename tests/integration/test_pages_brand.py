"""The pages around the room, through the real app and a real Valkey: the front page says
where to go; an error or end page speaks the reader's language, shows no HTTP code, has
the language switch, links onward (a member's own page) and names the programme's contact;
the programme's name and logo (configured once) appear on them and the logo is served by
this server; a bad brand setting stops the node at start-up with a clear message."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from classroom.config import LOGO_MAX_BYTES, Brand, ConfigError, Settings, brand_from_env
from classroom.http.app import create_app
from classroom.http.keys import HUB, STORE
from tests.integration.api import api
from tests.integration.conftest import ADMIN, Client
from tests.integration.test_lobby import make_session

LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4"/></svg>'
)


def visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S))


async def page(client: Client, path: str, lang: str = "nb") -> tuple[int, str]:
    async with client.get(path, headers={"Accept-Language": lang}) as r:
        return r.status, await r.text()


async def test_the_front_page_says_where_to_go(client: Client) -> None:
    status, nb = await page(client, "/")
    assert status == 200 and 'data-state="index"' in nb
    assert "Har du fått en lenke" in nb and 'href="/admin"' in nb and "Administrasjon" in nb
    assert '<html lang="nb">' in nb and 'href="/static/favicon.svg"' in nb
    assert 'id="lang-switch"' in nb and 'href="?lang=en"' in nb
    _, en = await page(client, "/", lang="en")
    assert "Have you been sent a link" in en and "Har du" not in en
    async with client.get("/static/favicon.svg") as r:
        assert r.status == 200 and r.content_type == "image/svg+xml"
    async with client.get("/brand/logo") as r:
        assert r.status == 404  # no logo configured


async def test_an_end_page_links_onward_and_shows_no_status_code(client: Client) -> None:
    s = await make_session(client, timedelta(minutes=5))
    token = s["tokens"]["participant"]
    await api(client, "POST", f"/sessions/{s['id']}/cancel")
    status, nb = await page(client, f"/join/{token}")
    assert status == 410 and 'data-state="cancelled"' in nb
    text = visible(nb)
    assert "410" not in text and "Feil" not in text
    assert f'href="/me/{token}"' in nb and "Min deltakelse" in text
    assert "programkoordinatoren" in text  # no contact configured: the general hint
    # The link onward works: the member's own page, from the same link.
    status, mine = await page(client, f"/me/{token}")
    assert status == 200 and "Min deltakelse" in mine

    status, bad = await page(client, "/join/not-a-token", lang="en")
    assert status == 404 and "404" not in visible(bad) and 'id="lang-switch"' in bad


@pytest.fixture
async def branded(aiohttp_client: Any, valkey_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    logo = tmp_path / "kommune.svg"
    logo.write_bytes(LOGO)
    brand = brand_from_env("  Lederprogrammet\n 2027 ", "Kari Nordmann, kari@kommune.no", str(logo))
    settings = Settings(redis_url=valkey_url, data_dir=tmp_path, admin_token=ADMIN, brand=brand)
    c: Client = await aiohttp_client(create_app(settings))
    await c.app[STORE].redis.flushdb()
    await c.app[HUB].tick()
    yield c


async def test_the_programme_brand_is_on_the_pages(branded: Client) -> None:
    status, nb = await page(branded, "/")
    assert status == 200
    assert "<title>Lederprogrammet 2027</title>" in nb
    assert '<img src="/brand/logo" alt=""' in nb
    assert "Spørsmål? Kontakt Kari Nordmann, kari@kommune.no." in visible(nb)
    async with branded.get("/brand/logo") as r:
        assert r.status == 200 and r.content_type == "image/svg+xml"
        assert await r.read() == LOGO


def test_a_bad_brand_setting_is_refused_at_start_up(tmp_path: Path) -> None:
    assert brand_from_env(None, None, None) == Brand()
    with pytest.raises(ConfigError, match="CLASSROOM_PROGRAMME_NAME"):
        brand_from_env("x" * 81, None, None)
    with pytest.raises(ConfigError, match="CLASSROOM_PROGRAMME_CONTACT"):
        brand_from_env(None, "x" * 201, None)
    with pytest.raises(ConfigError, match="must be one of"):
        brand_from_env(None, None, str(tmp_path / "logo.gif"))
    with pytest.raises(ConfigError, match="cannot be read"):
        brand_from_env(None, None, str(tmp_path / "missing.png"))
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (LOGO_MAX_BYTES + 1))
    with pytest.raises(ConfigError, match="KB"):
        brand_from_env(None, None, str(big))
