"""Webhooks registered and deleted on the admin page, through the real app and a real
Valkey: the API's address checks, said in bokmål; the secret shown once; deletion asked
first and audited. (No event is sent: the endpoint is deleted before any happens.)"""

from __future__ import annotations

from classroom.domain.webhooks import SESSION_STARTED
from classroom.http.keys import STORE
from tests.integration.conftest import Client
from tests.integration.test_admin_pages import csrf_of, login, page, post

#: A public address, written as a literal so that registering resolves nothing.
PUBLIC = "https://93.184.216.34/hooks/classroom"


async def test_webhooks_registered_and_deleted_on_the_admin_page(client: Client) -> None:
    await login(client)
    nb = await page(client, "/admin/webhooks?lang=nb")
    assert 'id="webhook-form"' in nb and "Registrer en webhook" in nb
    csrf = csrf_of(nb)
    store = client.app[STORE].webhooks

    for url, said in (
        ("http://93.184.216.34/x", "Adressen må begynne med https://."),
        ("https://127.0.0.1/x", "webhooks går bare til offentlige adresser"),
        ("not a url", "Det er ikke en adresse en webhook kan gå til"),
    ):
        refused = await post(client, "/admin/webhooks", {"csrf": csrf, "url": url}, 400)
        assert said in refused, url
    assert await store.endpoints() == []
    await post(client, "/admin/webhooks", {"url": PUBLIC}, 403)  # no CSRF token
    assert await store.endpoints() == []

    made = await post(
        client, "/admin/webhooks", {"csrf": csrf, "url": PUBLIC, "events": SESSION_STARTED}, 201
    )
    [endpoint] = await store.endpoints()
    assert endpoint.url == PUBLIC and endpoint.events == (SESSION_STARTED,)
    assert f'value="{endpoint.secret}"' in made and endpoint.secret.startswith("whsec_")
    assert "den vises bare denne ene gangen" in made
    listed = await page(client, "/admin/webhooks")
    assert endpoint.secret not in listed and f'id="webhook-{endpoint.id}"' in listed
    assert 'data-confirm="Slette webhooken til' in listed

    deleted = await post(client, f"/admin/webhooks/{endpoint.id}/delete", {"csrf": csrf})
    assert "Webhooken er slettet" in deleted
    assert await store.endpoints() == []
    await post(client, f"/admin/webhooks/{endpoint.id}/delete", {"csrf": csrf}, 404)
