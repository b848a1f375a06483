"""The admin pages in bokmål through the real app: what the server says about a roster
file or a form (the problems it found, a refusal) is said in bokmål, never in the API's
English, and the same page in English says it in English."""

from __future__ import annotations

import re

import aiohttp

from classroom.http import strings
from classroom.http.keys import STORE
from tests.integration.conftest import Client
from tests.integration.test_admin_pages import csrf_of, login, page, post


def english_on(html: str) -> list[str]:
    """English texts of the server's catalogue that show on a page (beyond the ones that
    are the same in both languages: names, "CSV", ...)."""
    text = re.sub(r"<[^>]+>", " ", html)
    return [
        value
        for key, value in strings.EN.items()
        if "{" not in value and len(value) > 12 and value != strings.NB[key] and value in text
    ]


async def test_roster_problems_and_form_errors_are_said_in_bokmal(client: Client) -> None:
    home = await login(client)
    await post(client, "/admin/cohorts", {"csrf": csrf_of(home), "name": "Ledere 2027"})
    cid = (await client.app[STORE].list_cohorts())[0].id
    nb = await page(client, f"/admin/cohorts/{cid}?lang=nb")

    bad = "navn;e-post;rolle;samtykke\nKari;kari@kommune.no;;ja\nOla;ola;sjef;kanskje\n"
    form = aiohttp.FormData()
    form.add_field("csrf", csrf_of(nb))
    form.add_field("roster", bad.encode(), filename="liste.csv", content_type="text/csv")
    failed = await post(client, f"/admin/cohorts/{cid}/roster", form, 400)
    assert "Ingenting ble importert:" in failed and "3 feil i filen." in failed
    assert "Linje 3 (e-post): «ola» er ikke en e-postadresse" in failed
    assert "Linje 3 (rolle): «sjef» er ikke en rolle" in failed
    assert "Linje 3 (samtykke): «kanskje» er verken ja eller nei" in failed
    assert "is not" not in failed and "problem(s)" not in failed
    assert english_on(failed) == []
    assert await client.app[STORE].list_members(cid) == []

    form = aiohttp.FormData()
    form.add_field("csrf", csrf_of(nb))
    form.add_field("roster", b"fornavn,e-post\nKari,k@k.no\n", filename="x.csv")
    header = await post(client, f"/admin/cohorts/{cid}/roster", form, 400)
    assert "Overskriftsraden har en kolonne «fornavn» vi ikke kjenner" in header

    when = {"title": "Samling 1", "date": "2027-06-08", "timezone": "Europe/Oslo", "lobby": "15"}
    refused = await post(client, f"/admin/cohorts/{cid}/sessions", {
        "csrf": csrf_of(nb), **when, "start": "11:00", "end": "09:00",
    }, 400)  # fmt: skip
    assert "Slutten må være etter starten." in refused and "must be after" not in refused
    gap = await post(client, f"/admin/cohorts/{cid}/sessions", {
        "csrf": csrf_of(nb), **when, "date": "2027-03-28", "start": "02:30", "end": "03:30",
    }, 400)  # fmt: skip
    assert "Det klokkeslettet finnes ikke den dagen" in gap
    assert english_on(gap) == []
    assert await client.app[STORE].list_sessions(cid) == []

    en = await page(client, f"/admin/cohorts/{cid}?lang=en")
    refused_en = await post(client, f"/admin/cohorts/{cid}/sessions", {
        "csrf": csrf_of(en), **when, "start": "11:00", "end": "09:00",
    }, 400)  # fmt: skip
    assert "The end must be after the start." in refused_en
