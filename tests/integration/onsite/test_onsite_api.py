"""On-site messages through the poll route: only the visitor's own browser sees them, what the
visitor does moves the funnel like an email open or click, and unseen ones expire."""

from __future__ import annotations

import json
from datetime import timedelta

from chalicelib import jobs
from chalicelib.storage.models import Contact, Identity, Message
from tests.conftest import WRITE_KEY
from tests.integration.analytics.population import World
from tests.integration.onsite.conftest import Visitor

CART_CHAT = """
name: cart_chat
trigger: {event: cart_updated}
templates:
  chat:
    onsite:
      style: chat
      title: "Still thinking it over?"
      html: "<p>Your <b>{{ event.product }}</b> is waiting, with 10% off today.</p>"
      buttons:
        - {text: Back to my cart, url: "https://shop.example/cart?code=TEN"}
steps:
  - {id: chat, kind: send, channel: onsite, template: chat, expires: 1d}
  - id: reaction
    kind: wait_until
    reaction: clicked
    message: chat
    timeout: 2d
    on_met: clicked
    on_timeout: ignored
  - {id: clicked, kind: update, add_tags: [clicked_chat], next: end}
  - {id: ignored, kind: update, add_tags: [ignored_chat]}
"""


def publish(world: World, source: str, headers: dict[str, str]) -> None:
    name = source.split("name: ", 1)[1].split()[0]
    response = world.api.http.put(
        f"/admin/funnels/{name}",
        body=source,
        headers={**headers, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 201, response.body


def contact_id_of(visitor: Visitor) -> str:
    return str(Identity.get(f"anon:{visitor.anonymous_id}").contact_id)


def tags_of(visitor: Visitor) -> set[str]:
    return set(Contact.get(contact_id_of(visitor)).tags or ())


def test_only_the_visitors_own_browser_sees_the_message_and_a_click_takes_the_branch(
    world: World, admin_headers: dict[str, str]
) -> None:
    publish(world, CART_CHAT, admin_headers)
    ann, bob = Visitor.new(world), Visitor.new(world)
    assert ann.poll() == []  # not known yet: nothing, and nothing bound
    ann.browse(("cart_updated", {"product": "Ceramic mug"}))
    bob.browse(("product_viewed", {"product": "Teapot"}))

    (message,) = ann.poll()
    assert message["style"] == "chat" and message["title"] == "Still thinking it over?"
    assert message["body"] == [
        ["p", {}, "Your ", ["b", {}, "Ceramic mug"], " is waiting, with 10% off today."]
    ]
    assert message["buttons"] == [
        {"text": "Back to my cart", "url": "https://shop.example/cart?code=TEN"}
    ]
    assert set(message) == {"id", "style", "title", "body", "buttons"}  # content, nothing else

    # Another visitor, a stranger with Ann's anonymous id (it travels: carts, deep links) but
    # not her browser's device key, and an unknown id all get nothing.
    assert bob.poll() == []
    assert ann.poll(device_key="f" * 32) == []
    assert Visitor.new(world).poll() == []

    # Reports about someone else's message are ignored.
    bob.poll({"id": message["id"], "action": "clicked"})
    assert "clicked_chat" not in tags_of(ann)

    ann.poll(
        {"id": message["id"], "action": "clicked", "url": "https://shop.example/cart?code=TEN"}
    )
    assert tags_of(ann) == {"clicked_chat"}
    stored = Message.get(message["id"])
    assert [entry["status"] for entry in stored.status_history] == [
        "sent",
        "shown",
        "clicked",
    ]
    assert ann.poll() == []  # shown once

    steps = world.admin("/admin/stats/funnels/cart_chat", admin_headers)["steps"]
    chat = next(step for step in steps if step["id"] == "chat")
    assert (chat["sent"], chat["opened"], chat["clicked"]) == (1, 1, 1)


def test_a_message_nobody_saw_in_time_expires(world: World, admin_headers: dict[str, str]) -> None:
    publish(world, CART_CHAT, admin_headers)
    ann = Visitor.new(world)
    ann.browse(("cart_updated", {"product": "Teapot"}))
    world.advance(timedelta(hours=25))  # Ann does not come back within the message's day
    assert ann.poll() == []  # past its window: never shown
    assert sweep(world) == 1
    assert sweep(world) == 0
    (key,) = Message.by_contact.query(contact_id_of(ann))
    assert Message.get(key.message_id).status == "expired"
    world.advance(timedelta(days=1))
    assert tags_of(ann) == {"ignored_chat"}


def sweep(world: World) -> int:
    """The sweeper job run to its end (a new job each time): the on-site messages it expired."""
    job, _ = jobs.paged_jobs().start(jobs.SWEEPER, world.now)
    jobs.drain()
    world.stack.drain()  # the worker records `expired` and tells the funnel
    found = jobs.paged_jobs().get(job.job_id)
    assert found is not None and found["status"] == "done", found
    return int(found["counts"]["expired_onsite"])


def test_bad_polls_are_refused_with_the_field_named(world: World) -> None:
    def post(body: object) -> tuple[int, dict]:
        response = world.api.http.post(
            "/v1/onsite", headers={"Content-Type": "text/plain"}, body=json.dumps(body)
        )
        return response.status_code, response.json_body

    assert post({"anonymousId": "a", "deviceKey": "k" * 20})[0] == 401
    status, body = post({"writeKey": WRITE_KEY, "anonymousId": "a", "deviceKey": "short"})
    assert (status, body["field"]) == (400, "deviceKey")
    status, body = post(
        {
            "writeKey": WRITE_KEY,
            "anonymousId": "a",
            "deviceKey": "k" * 20,
            "reports": [{"id": "m", "action": "hacked"}],
        }
    )
    assert (status, body["field"]) == (400, "reports[0].action")
