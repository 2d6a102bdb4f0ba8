"""Broadcasts over the admin API and `autofunnel broadcast`: saved, validated field by field,
sent now or at a given time, counted per channel by a dry run, paced, cancelled, handed over to
a funnel, refused a second run; its stats are a funnel step's, attributed revenue included."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from click.testing import CliRunner

from autofunnel import broadcast_commands
from autofunnel.api_client import AdminApi, ApiFailure
from autofunnel.cli import main
from autofunnel.timetravel import Stack
from chalicelib import jobs, wiring
from chalicelib.analytics import segment_store
from chalicelib.analytics.contact_stats import CONTACT_SHARDS, shard
from chalicelib.channels.ratelimit import TokenBucket
from chalicelib.core import trust
from chalicelib.core.segments import parse_segment
from chalicelib.eventlog.entry import STATUS, VERIFIED, Entry, message_subject
from chalicelib.paging.budget import Budget
from chalicelib.runtime import broadcast_jobs
from chalicelib.storage import messages as message_store
from chalicelib.storage.models import Contact, ContactStats, Enrollment, Identity, Message
from tests.conftest import ADMIN_KEY, SERVER_KEY
from tests.integration.ingest_helpers import basic, post
from tests.integration.paging.faults import CountingProvider

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # 11:00 in Berlin, 19:00 in Tokyo, 05:00 in NYC
VIPS = {"condition": {"attributes": {"vip": True}}}
SALE = {
    "segment": "vips",
    "channels": ["sms", "email"],
    "topic": "promotions",
    "content": {
        "email": {"subject": "{{ contact.first_name }}, 30% off", "text": "Spring sale"},
        "sms": {"text": "Spring sale: 30% off today"},
    },
}


@pytest.fixture
def stack(api: Client) -> Iterator[Stack]:
    yield Stack.build(NOW)  # installed: the routes, the worker and the jobs run on its clock


def people(stack: Stack, spec: dict[str, dict[str, Any]]) -> None:
    """Contacts by id: `email`, `phone`, `tz`, `off` (consents switched off), `vip`."""
    segment_store.save(parse_segment("vips", VIPS), VIPS["condition"], NOW)
    with (
        Contact.batch_write() as contacts,
        Identity.batch_write() as identities,
        ContactStats.batch_write() as stats,
    ):
        for cid, person in spec.items():
            vip = person.get("vip", True)
            contacts.save(
                Contact(
                    contact_id=cid,
                    attributes={"first_name": cid.title(), "vip": vip},
                    consents={name: {"granted": False} for name in person.get("off", ())},
                    timezone=person.get("tz", "Europe/Berlin"),
                )
            )
            addresses = {"user": cid, "email": person.get("email"), "phone": person.get("phone")}
            for kind, value in addresses.items():
                if value:
                    identities.save(
                        Identity(
                            f"{kind}:{value}",
                            contact_id=cid,
                            kind=kind,
                            value=value,
                            created_at=NOW,
                            proof=trust.SHOP,  # the shop's customers: texts may go to them
                        )
                    )
            stats.save(
                ContactStats(
                    cid,
                    shard=shard(cid, "c", CONTACT_SHARDS),
                    first_seen=NOW - timedelta(days=3),
                    segments={"vips"} if vip else None,
                )
            )


def put(api: Client, headers: dict[str, str], name: str, body: Any, yaml: bool = False) -> Any:
    content_type = "application/yaml" if yaml else "application/json"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.http.put(
        f"/admin/broadcasts/{name}",
        headers={**headers, "Content-Type": content_type},
        body=raw,
    )


def get(api: Client, headers: dict[str, str], path: str) -> Any:
    wiring.app().drain()  # the stream worker folds what the jobs tallied (within seconds on AWS)
    response = api.http.get(path, headers=headers)
    assert response.status_code == 200, response.body
    return response.json_body


def sent(cid: str) -> list[tuple[str, str]]:
    return [
        (str(m.funnel), m.channel)
        for m in message_store.of_contact(cid)
        if m.status not in ("pending", "sending", "skipped", "failed")
    ]


def test_a_broadcast_goes_out_once_on_each_members_first_reachable_channel(
    api: Client, admin_headers: dict[str, str], stack: Stack
) -> None:
    people(
        stack,
        {
            "ann": {"email": "ann@example.com", "phone": "+4915112345678"},
            "bob": {"email": "bob@example.com"},
            "cat": {"email": "cat@example.com", "off": ["email"]},  # unsubscribed: nothing
            "dan": {"email": "dan@example.com", "off": ["topic:promotions"]},
            "eve": {"email": "eve@example.com", "tz": "Asia/Tokyo"},  # 19:00: sent
            "fay": {"email": "fay@example.com", "vip": False},  # not in the segment
        },
    )
    saved = put(api, admin_headers, "spring", SALE)
    assert saved.status_code == 202, saved.body
    assert saved.headers["Location"] == "/admin/broadcasts/spring"
    assert (saved.json_body["status"], saved.json_body["outcome"]) == ("queued", "created")

    jobs.drain()

    found = get(api, admin_headers, "/admin/broadcasts/spring")
    assert found["status"] == "done" and found["progress"] == 1.0
    assert found["counts"] == {
        "members": 5,
        "sent": 3,
        "held": 0,
        "skipped": 2,
        "failed": 0,
        "opted_out": 1,
        "unreachable": 1,
    }
    assert sent("ann") == [("broadcast-spring", "sms")]  # the first reachable channel
    assert sent("bob") == sent("eve") == [("broadcast-spring", "email")]
    assert sent("cat") == sent("dan") == sent("fay") == []

    # Saved again unchanged: nothing happens; changed after it ran: refused (it runs once).
    again = put(api, admin_headers, "spring", SALE)
    assert (again.status_code, again.json_body["outcome"]) == (200, "unchanged")
    changed = put(api, admin_headers, "spring", {**SALE, "channels": ["email"]})
    assert changed.status_code == 409 and "runs once" in changed.json_body["error"]
    jobs.drain()
    assert sent("ann") == [("broadcast-spring", "sms")]

    # Its figures are a funnel step's: reactions, and an order after a click.
    [bobs] = [m for m in message_store.of_contact("bob") if m.funnel == "broadcast-spring"]
    stack.append(  # the click's redirect appends it; the worker records it and counts it
        Entry(
            subject=message_subject(bobs.message_id),
            event_id="click:1",
            type=STATUS,
            name="clicked",
            timestamp=NOW + timedelta(minutes=5),
            source="click",
            trust=VERIFIED,
        )
    )
    stack.clock.now = NOW + timedelta(hours=1)
    post(
        api,
        "/v1/track",
        {
            "userId": "bob",
            "event": "order_completed",
            "properties": {"order_id": "o-1", "total": 80, "currency": "EUR"},
            "timestamp": stack.clock.now.isoformat(),
        },
        basic(SERVER_KEY),  # the shop's backend: an order that counts
    )
    stats = get(api, admin_headers, "/admin/broadcasts/spring")["stats"]
    assert {k: stats[k] for k in ("sent", "opened", "clicked", "unsubscribed", "waiting")} == {
        "sent": 3,
        "opened": 1,  # a click implies the open
        "clicked": 1,
        "unsubscribed": 0,
        "waiting": 0,
    }
    assert (stats["attributed_orders"], stats["attributed_revenue"]) == (1, 80)
    listed = get(api, admin_headers, "/admin/broadcasts")["broadcasts"]
    assert [(b["name"], b["status"]) for b in listed] == [("spring", "done")]


def test_a_broadcast_at_a_given_time_waits_for_it_and_quiet_hours_hold_it_per_contact(
    api: Client, admin_headers: dict[str, str], stack: Stack
) -> None:
    people(
        stack,
        {
            "ann": {"email": "ann@example.com"},
            "eve": {"email": "eve@example.com", "tz": "Asia/Tokyo"},
        },
    )
    at = NOW + timedelta(hours=3)  # 14:00 in Berlin, 22:00 in Tokyo
    saved = put(
        api, admin_headers, "evening", {**SALE, "channels": ["email"], "at": at.isoformat()}
    )
    assert saved.status_code == 202 and saved.json_body["status"] == "scheduled"

    jobs.drain()  # not yet
    assert get(api, admin_headers, "/admin/broadcasts/evening")["status"] == "scheduled"
    assert sent("ann") == []
    # Until it starts it may be changed (here: the time).
    later = (at + timedelta(hours=1)).isoformat()
    moved = put(api, admin_headers, "evening", {**SALE, "channels": ["email"], "at": later})
    assert (moved.status_code, moved.json_body["outcome"]) == (202, "updated")
    assert moved.json_body["at"] == later

    stack.clock.now = at + timedelta(hours=1)
    jobs.drain()
    found = get(api, admin_headers, "/admin/broadcasts/evening")
    assert (found["status"], found["counts"]["sent"], found["counts"]["held"]) == ("done", 1, 1)
    assert sent("ann") == [("broadcast-evening", "email")] and sent("eve") == []
    assert found["stats"]["waiting"] == 1
    stack.advance(timedelta(hours=10))  # 08:00 in Tokyo
    assert sent("eve") == [("broadcast-evening", "email")]
    assert get(api, admin_headers, "/admin/broadcasts/evening")["stats"]["waiting"] == 0


def test_a_dry_run_counts_per_channel_and_writes_nothing(
    api: Client, admin_headers: dict[str, str], stack: Stack
) -> None:
    people(
        stack,
        {
            "ann": {"email": "ann@example.com", "phone": "+4915112345678"},
            "bob": {"email": "bob@example.com"},
            "eve": {"email": "eve@example.com", "tz": "Pacific/Auckland"},  # 23:00: held now
            "cat": {"phone": "+4915112345679", "off": ["sms"]},
            "dan": {"email": "dan@example.com", "off": ["topic:promotions"]},
        },
    )
    started = api.http.post(
        "/admin/broadcasts/spring/dry-run",
        headers={**admin_headers, "Content-Type": "application/json"},
        body=json.dumps(SALE).encode(),
    )
    assert started.status_code == 202, started.body
    jobs.drain()
    job = get(api, admin_headers, started.headers["Location"])
    assert job["status"] == "done"
    assert job["counts"] == {
        "members": 5,
        "sms": 1,
        "email": 2,
        "held_now": 1,
        "unreachable": 1,
        "opted_out": 1,
    }
    assert all(list(Enrollment.query(cid)) == [] for cid in ("ann", "bob", "eve"))
    missing = api.http.post("/admin/broadcasts/nope/dry-run", headers=admin_headers)
    assert missing.status_code == 404


def test_bad_broadcasts_are_refused_with_each_field_named(
    api: Client, admin_headers: dict[str, str], stack: Stack
) -> None:
    people(stack, {"ann": {"email": "ann@example.com"}})

    def problems(body: Any, yaml: bool = False) -> list[tuple[str, str]]:
        response = put(api, admin_headers, "bad", body, yaml)
        assert response.status_code == 422, response.body
        return [(p["field"], p["message"]) for p in response.json_body["problems"]]

    assert problems({**SALE, "segment": "nobody"}) == [
        ("segment", "no saved segment 'nobody' (PUT /admin/segments first)")
    ]
    assert problems({**SALE, "at": (NOW - timedelta(days=1)).isoformat()})[0][0] == "at"
    assert problems({**SALE, "pace": {"sms": "fast"}})[0][0] == "pace.sms"
    assert problems({**SALE, "chanels": ["email"]})[0][0] == "chanels"
    assert problems({"segment": "vips", "funnel": "no_such_funnel"}) == [
        ("funnel", "no active funnel 'no_such_funnel' to hand over to")
    ]
    yaml_body = b"segment: vips\nchannel: email\ncontent: {email: {subject: '{{ nope.x }}'}}\n"
    assert problems(yaml_body, yaml=True)[0][0].startswith("content.email")
    for raw, status in ((b"", 400), (b"[1, 2]", 400), (b"{a: [", 400), (b"x" * 300_000, 413)):
        assert put(api, admin_headers, "bad", raw, yaml=True).status_code == status
    assert put(api, {}, "bad", SALE).status_code == 401
    assert api.http.get("/admin/broadcasts/nope", headers=admin_headers).status_code == 404
    assert Message.by_contact.query("ann").total_count == 0
    assert get(api, admin_headers, "/admin/broadcasts")["broadcasts"] == []
    # A broadcast's funnel is its own: no funnel upload may take the name.
    taken = api.http.put(
        "/admin/funnels/broadcast-bad",
        headers={**admin_headers, "Content-Type": "application/yaml"},
        body=b"name: broadcast-bad\n",
    )
    assert taken.status_code == 400 and taken.json_body["field"] == "name"


def test_cancelling_stops_it_and_drops_what_quiet_hours_held(
    api: Client, admin_headers: dict[str, str], stack: Stack
) -> None:
    people(
        stack,
        {
            "ann": {"email": "ann@example.com"},
            "eve": {"email": "eve@example.com", "tz": "Asia/Tokyo"},
        },
    )

    def cancel(name: str) -> Any:
        return api.http.post(f"/admin/broadcasts/{name}/cancel", headers=admin_headers)

    # Scheduled, then cancelled: it never goes out.
    at = (NOW + timedelta(hours=1)).isoformat()
    assert put(api, admin_headers, "later", {**SALE, "channels": ["email"], "at": at}).status_code
    cancelled = cancel("later")
    assert cancelled.status_code == 200 and cancelled.json_body["status"] == "cancelled"
    assert cancel("later").status_code == 409
    stack.clock.now = NOW + timedelta(hours=3)  # 22:00 in Tokyo
    jobs.drain()
    assert sent("ann") == [] and sent("eve") == []

    # Sent, with eve's send held for her morning: cancelling drops it.
    assert put(api, admin_headers, "late", {**SALE, "channels": ["email"]}).status_code == 202
    jobs.drain()
    assert get(api, admin_headers, "/admin/broadcasts/late")["stats"]["waiting"] == 1
    cancelled = cancel("late")
    assert cancelled.status_code == 200 and cancelled.json_body["status"] == "cancelled"
    assert cancelled.json_body["counts"]["held"] == 1
    stack.advance(timedelta(hours=12))
    assert sent("ann") == [("broadcast-late", "email")] and sent("eve") == []
    assert get(api, admin_headers, "/admin/broadcasts/late")["stats"]["waiting"] == 0
    assert cancel("late").status_code == 409
    assert cancel("nope").status_code == 404


def test_a_hand_over_enrolls_the_segment_in_a_funnel_once(
    api: Client, admin_headers: dict[str, str], stack: Stack
) -> None:
    stack.publish(
        "welcome_back.yaml",
        """
name: welcome_back
trigger: {event: never_sent}
templates:
  hello: {email: {subject: "Welcome back, {{ contact.first_name }}", text: "Hello"}}
steps:
  - {id: hello, kind: send, channel: email, template: hello}
""",
    )
    people(
        stack,
        {
            "ann": {"email": "ann@example.com"},
            "bob": {"email": "bob@example.com", "off": ["topic:news"]},
        },
    )
    body = {"segment": "vips", "funnel": "welcome_back", "topic": "news"}
    assert put(api, admin_headers, "comeback", body).status_code == 202
    jobs.drain()
    found = get(api, admin_headers, "/admin/broadcasts/comeback")
    assert found["counts"]["handed_over"] == 1 and found["counts"]["opted_out"] == 1
    assert sorted(row.funnel for row in Enrollment.query("ann")) == [
        "broadcast-comeback",
        "welcome_back",
    ]
    assert sent("ann") == [("welcome_back", "email")] and sent("bob") == []


def test_sends_keep_the_broadcasts_pace(
    api: Client, admin_headers: dict[str, str], stack: Stack
) -> None:
    people(stack, {f"p{n:02d}": {"email": f"p{n}@example.com"} for n in range(11)})
    paced = {**SALE, "channels": ["email"], "pace": {"email": "20/s"}}
    assert put(api, admin_headers, "paced", paced).status_code == 202
    started = time.monotonic()
    jobs.drain()
    assert time.monotonic() - started >= 0.5  # 11 sends, one every 50 ms after the first
    assert get(api, admin_headers, "/admin/broadcasts/paced")["counts"]["sent"] == 11


def test_a_slow_pace_never_lets_the_sweeper_send_a_waiting_message_again(
    api: Client, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 1/min, the sends of a page wait for their turn after they are claimed; the sweeper,
    running while they wait, takes a claimed send older than STUCK_AFTER for an interrupted one.
    Pages hold what the pace sends in PACED_PAGE, so none waits that long: each member gets the
    message once (with pages of 100, the sweeper sent the third and later ones again)."""
    provider = CountingProvider()
    stack = Stack.build(NOW, channels={"email": provider})
    one_shard = [
        cid for cid in (f"p{n:02d}" for n in range(99)) if shard(cid, "c", CONTACT_SHARDS) == "c2"
    ]
    people(stack, {cid: {"email": f"{cid}@example.com"} for cid in one_shard[:4]})  # one page
    monkeypatch.setattr(broadcast_jobs, "WORKERS", 1)  # one send at a time: time is the stack's

    def wait_and_sweep(seconds: float) -> None:  # the pace's wait, with the sweeper running
        stack.clock.now += timedelta(seconds=seconds)
        stack.run_job("sweeper")

    class HandPace(TokenBucket):
        def __init__(self, rate: float, capacity: float | None = None) -> None:
            super().__init__(
                rate, capacity, clock=lambda: stack.clock().timestamp(), sleep=wait_and_sweep
            )

    monkeypatch.setattr(broadcast_jobs, "TokenBucket", HandPace)
    paced = {**SALE, "channels": ["email"], "pace": {"email": "1/min"}}
    assert put(api, admin_headers, "slow", paced).status_code == 202
    jobs.drain()
    assert stack.clock() - NOW >= timedelta(minutes=3)  # the last send waited its turn
    assert sorted(provider.sent.values()) == [1, 1, 1, 1]
    assert get(api, admin_headers, "/admin/broadcasts/slow")["counts"]["sent"] == 4


def test_autofunnel_broadcast_sends_with_a_progress_bar(
    api: Client, stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    people(stack, {f"p{n:02d}": {"email": f"p{n}@example.com"} for n in range(40)})

    def call(self: AdminApi, method: str, path: str, body: bytes | None = None, **_: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.admin_key}", "Content-Type": "application/json"}
        response = api.http.request(method, path, headers=headers, body=body or b"")
        payload = json.loads(response.body)
        if response.status_code >= 400:
            raise ApiFailure(response.status_code, payload)
        return response.status_code, payload

    polls = []

    def one_page(seconds: float) -> None:  # the job runner's next tick, between two polls
        polls.append(seconds)
        jobs.paged_jobs().continue_open(Budget(0.01))

    monkeypatch.setattr(AdminApi, "call", call)
    monkeypatch.setattr(broadcast_commands, "sleep", one_page)
    monkeypatch.setenv("AUTOFUNNEL_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("COLUMNS", "160")
    source = tmp_path / "spring.yaml"
    source.write_text(
        "segment: vips\nchannel: email\ntopic: promotions\n"
        "content:\n  email: {subject: 'Spring sale', text: '30% off'}\n"
    )
    cli = CliRunner()

    tried = cli.invoke(main, ["broadcast", "dry-run", str(source)])
    assert tried.exit_code == 0, tried.output
    assert "email" in tried.output and "40 members" in tried.output

    out = cli.invoke(main, ["broadcast", "send", str(source)])
    assert out.exit_code == 0, out.output
    assert len(polls) > 3  # watched over several pages
    assert "spring: created, queued" in out.output and "100%" in out.output
    assert "sent 40, held 0, skipped 0, failed 0" in out.output

    listed = cli.invoke(main, ["broadcast"])
    assert listed.exit_code == 0 and "spring" in listed.output and "done" in listed.output
    bad = cli.invoke(main, ["broadcast", "send", "nope", "--segment", "vips"])
    assert bad.exit_code != 0 and "--funnel" in bad.output
    source.write_text("segment: nobody\nchannel: email\ncontent: {email: {subject: s, text: t}}\n")
    refused = cli.invoke(main, ["broadcast", "send", str(source), "--name", "other"])
    assert refused.exit_code != 0 and "segment: no saved segment 'nobody'" in refused.output
