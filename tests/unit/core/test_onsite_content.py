"""On-site message content: the body reduced to a safe tree the snippet builds without
innerHTML, buttons only with safe links, and the expiry window carried to delivery."""

from __future__ import annotations

from chalicelib.core.engine import EventInput, SendMessage, start
from chalicelib.core.onsite_html import plain, tree

from .conftest import T0, contact, funnel


def test_markup_is_reduced_to_allowed_elements_and_safe_links() -> None:
    html = (
        '<p onclick="steal()">Hi <b>Anna</b>, <a href="javascript:alert(1)">x</a>'
        '<a href="https://shop.example/cart">your cart</a></p>'
        "<script>alert(1)</script><style>p{}</style><img src=x onerror=alert(1)>"
        '<div><span style="color:red">kept text</span></div><a href="//evil.example">y</a>'
    )
    assert tree(html) == [
        [
            "p",
            {},
            "Hi ",
            ["b", {}, "Anna"],
            ", ",
            ["a", {}, "x"],
            ["a", {"href": "https://shop.example/cart"}, "your cart"],
        ],
        ["span", {}, "kept text"],
        ["a", {}, "y"],
    ]
    assert plain(tree("<p>One</p><p>Two<br>three</p>")) == "One\nTwo\nthree"


def test_depth_and_size_are_bounded() -> None:
    deep = "<b>" * 50 + "x" + "</b>" * 50
    nested = tree(deep)
    depth = 0
    node = nested[0]
    while isinstance(node, list):
        depth += 1
        node = node[2]
    assert depth <= 8
    many = tree("<b>x</b>" * 5000)
    assert len(many) <= 400


POPUP = """
    name: popup_test
    trigger: {event: signed_up}
    templates:
      popup:
        onsite:
          style: chat
          title: "Hi {{ contact.first_name }}"
          html: "<p>Your <b>cart</b> is waiting</p><script>x()</script>"
          buttons:
            - {text: Open cart, url: "https://shop.example/cart"}
            - {text: Bad, url: "javascript:alert(1)"}
            - {text: Later, id: later}
          capture: {field: email, placeholder: you@example.com, button: Send me the code}
    steps:
      - {id: popup, kind: send, channel: onsite, template: popup, expires: 2d}
"""


def test_an_onsite_send_carries_its_tree_buttons_capture_and_window() -> None:
    f = funnel(POPUP)
    visitor = contact(attributes={"first_name": "Ann"}, reachable_channels={"onsite"})
    out = start(f, visitor, EventInput("signed_up", {}, T0), T0, "e1")
    (send,) = [d for d in out.decisions if isinstance(d, SendMessage)]
    part = send.content["onsite"]
    assert part["style"] == "chat" and part["title"] == "Hi Ann"
    assert part["body"] == [["p", {}, "Your ", ["b", {}, "cart"], " is waiting"]]
    assert part["text"] == "Your cart is waiting"
    assert part["buttons"] == [
        {"text": "Open cart", "url": "https://shop.example/cart"},
        {"text": "Later", "id": "later"},
    ]
    assert part["capture"] == {
        "field": "email",
        "placeholder": "you@example.com",
        "button": "Send me the code",
    }
    assert part["expires_in"] == 2 * 86400


def test_a_contact_who_never_browsed_the_site_gets_no_onsite_send() -> None:
    f = funnel(POPUP)
    out = start(f, contact(reachable_channels={"email"}), None, T0, "e1")
    assert not [d for d in out.decisions if isinstance(d, SendMessage)]
    assert any(t.kind == "skip" for t in out.trace)


WAIT_FOR_SHOWN = """
    name: popup_or_email
    trigger: {event: signed_up}
    templates:
      popup:
        onsite: {text: "10% off today"}
      mail:
        email: {subject: "10% off today", text: "Your code: TEN"}
    steps:
      - {id: popup, kind: send, channel: onsite, template: popup, expires: 1d}
      - id: seen
        kind: wait_until
        reaction: shown
        message: popup
        timeout: 1d
        on_met: end
        on_timeout: by_email
      - {id: by_email, kind: send, channel: email, template: mail}
"""


def test_a_funnel_waits_for_shown_and_falls_back_when_it_never_is() -> None:
    from chalicelib.core.engine import MessageStatusInput, TimerInput, decide

    f = funnel(WAIT_FOR_SHOWN)
    visitor = contact(reachable_channels={"onsite", "email"})
    entered = start(f, visitor, EventInput("signed_up", {}, T0), T0, "e1")
    assert entered.state.step == "seen"

    shown = decide(f, entered.state, visitor, MessageStatusInput("popup", "shown", T0), T0)
    assert shown.state.status == "completed"
    assert shown.state.reactions["popup"].keys() >= {"shown", "opened", "delivered"}

    # Never shown: it expires, and the wait times out to the email.
    expired = decide(f, entered.state, visitor, MessageStatusInput("popup", "expired", T0), T0)
    timer = TimerInput(expired.state.token)
    late = decide(f, expired.state, visitor, timer, expired.state.wake_at)
    (mail,) = [d for d in late.decisions if isinstance(d, SendMessage)]
    assert mail.step_id == "by_email"
