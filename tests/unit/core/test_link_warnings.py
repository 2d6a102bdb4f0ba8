"""The validator warns about links that would go out untracked and webhook URLs AWS refuses."""

from __future__ import annotations

import textwrap

from chalicelib.core.funnel import parse_funnel
from chalicelib.core.validate import link_warnings

SOURCE = textwrap.dedent("""\
    name: links
    trigger: {event: go}
    steps:
      - id: mail
        kind: send
        channel: email
        content:
          email:
            subject: Hi
            html: |
              <p>Our <a href="https://shop.example/sale">sale</a></p>
              <p>Partner: <a href="https://partner.example/x">here</a></p>
              <p>Your cart: <a href="{{ event.cart_url }}">cart</a></p>
      - id: hook
        kind: webhook
        url: http://crm.example/hook
""")


def test_literal_links_off_the_allow_list_and_plain_http_webhooks_are_warned_about() -> None:
    funnel = parse_funnel(SOURCE, "links.yaml")
    warnings = link_warnings(funnel, SOURCE, "links.yaml", ["shop.example"])
    assert [str(w) for w in warnings] == [
        "links.yaml:12: steps[0].content.email.html: https://partner.example/x is not on the "
        "link allow-list: it goes out untracked",
        "links.yaml:16: steps[1].url: webhook URLs must be https on AWS (http only locally)",
    ]
    assert len(link_warnings(funnel, SOURCE, "links.yaml", ["*.example", "partner.example"])) == 1
