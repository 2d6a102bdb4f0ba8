"""Tiny HTML pages for people who follow our links (click redirects, unsubscribes)."""

from __future__ import annotations

import html

from chalice.app import Response

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;
color:#222}}button{{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}}</style>
</head><body><h1>{title}</h1>{body}</body></html>
"""


def page(status: int, title: str, body_html: str) -> Response:
    """An HTML page; `body_html` must already be escaped."""
    return Response(
        body=_PAGE.format(title=html.escape(title), body=body_html),
        status_code=status,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def not_found() -> Response:
    return page(404, "Link not found", "<p>This link is not valid or has expired.</p>")
