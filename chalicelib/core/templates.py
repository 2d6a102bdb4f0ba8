"""Liquid templates: compiling (cached), the render context, and static checks for validation.

Render context (the variables a template may use):
    contact.*        the contact's attributes and figures (contact.orders_count,
                     contact.first_touch.source ...: see figures.py), plus contact.id,
                     contact.tags, contact.segments
    event.*          properties of the event that started the enrollment (cart items, total)
    links.*          URLs the runtime supplies per message: links.unsubscribe,
                     links.preferences, links.view_online, links.site
    unsubscribe_url  the same as links.unsubscribe
    funnel.name, funnel.step
HTML parts are autoescaped (contact data comes from web forms); use `| safe` for trusted HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chalicelib.core import figures, onsite_html
from chalicelib.core.funnel import Content, EmailPart, OnsitePart

if TYPE_CHECKING:  # Liquid is imported on the first compile: most cold starts render nothing
    from liquid import BoundTemplate, Environment
    from liquid.exceptions import LiquidError

ROOTS = frozenset({"contact", "event", "links", "unsubscribe_url", "funnel"})
LINK_KEYS = frozenset({"unsubscribe", "preferences", "view_online", "site"})
CONTACT_BUILTINS = frozenset({"id", "tags", "segments"})

SAMPLE_LINKS = {
    "unsubscribe": "https://example.com/u/sample-token",
    "preferences": "https://example.com/p/sample-token",
    "view_online": "https://example.com/v/sample-message",
    "site": "https://example.com",
}
SAMPLE_CONTACT = {
    "first_name": "Alex",
    "last_name": "Smith",
    "name": "Alex Smith",
    "email": "alex@example.com",
    "phone": "+15555550123",
    "city": "Springfield",
    "country": "US",
    "language": "en",
}
SAMPLE_FIGURES = {
    "orders_count": 2,
    "total_spent": 148.5,
    "lifetime_value": 148.5,
    "last_order_at": "2024-02-20T15:04:00+00:00",
    "first_seen": "2024-01-08T10:30:00+00:00",
    "last_seen": "2024-03-01T18:12:00+00:00",
    "sessions": 7,
    "page_views": 31,
    "first_touch": {
        "source": "google",
        "medium": "cpc",
        "campaign": "spring",
        "at": "2024-01-08T10:30:00+00:00",
    },
    "last_touch": {"source": "newsletter", "medium": "email", "at": "2024-03-01T18:00:00+00:00"},
    "rfm_segment": "loyal",
    "consents": dict.fromkeys(figures.CONSENT_CHANNELS, True),
    "timezone": "Europe/Berlin",
}

__all__ = ["compile_template", "render", "render_content", "render_url", "render_value"]


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@lru_cache(maxsize=4096)
def compile_template(source: str, html: bool = False) -> BoundTemplate:
    """Compile once per process: Funnel.from_dict stays cheap, rendering stays fast."""
    return _environment(html).from_string(source)


@lru_cache(maxsize=2)
def _environment(html: bool) -> Environment:
    from liquid import Environment

    return Environment(autoescape=html)


def _liquid_error() -> type[LiquidError]:
    from liquid.exceptions import LiquidError

    return LiquidError


def render(source: str, context: Mapping[str, Any], html: bool = False) -> str:
    if not is_template(source):
        return source
    return compile_template(source, html).render(**context)


def render_url(source: str, context: Mapping[str, Any]) -> str:
    """A webhook step's URL: contact and event values are percent-encoded as they go in, so
    data (a name with "/", "?" or "@") can fill a path segment or a query value but never
    change the URL's host, path or parameters."""
    if not is_template(source):
        return source
    encoded = {
        **context,
        "contact": _percent_encoded(context.get("contact", {})),
        "event": _percent_encoded(context.get("event", {})),
    }
    return render(source, encoded)


def _percent_encoded(value: Any) -> Any:
    if isinstance(value, str):
        return quote(value, safe="")
    if isinstance(value, Mapping):
        return {key: _percent_encoded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_percent_encoded(item) for item in value]
    return value


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render string leaves of a JSON-like value (webhook bodies, update `set`)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, context) for v in value]
    return value


def make_context(
    contact: Mapping[str, Any],
    event: Mapping[str, Any],
    links: Mapping[str, str] | None,
    funnel: str,
    step: str,
) -> dict[str, Any]:
    links = dict(links or {})
    return {
        "contact": contact,
        "event": event,
        "links": links,
        "unsubscribe_url": links.get("unsubscribe", ""),
        "funnel": {"name": funnel, "step": step},
    }


def render_content(content: Content, channel: str, context: Mapping[str, Any]) -> dict[str, Any]:
    part = content.part(channel)
    if part is None:
        raise KeyError(channel)
    out: dict[str, Any]
    if isinstance(part, EmailPart):
        out = {"subject": render(part.subject, context)}
        for name in ("html", "text", "preheader"):
            source = getattr(part, name)
            if source is not None:
                out[name] = render(source, context, html=name == "html")
        return out
    if isinstance(part, OnsitePart):
        return _onsite(part, context)
    out = {"text": render(part.text, context)}
    out["buttons"] = _buttons(part.buttons, context)
    return out


def _onsite(part: OnsitePart, context: Mapping[str, Any]) -> dict[str, Any]:
    """An on-site message: its body as a sanitised tree (onsite_html.py) and as plain text."""
    out: dict[str, Any] = {"style": part.style}
    if part.title is not None:
        out["title"] = render(part.title, context)
    if part.html is not None:
        out["body"] = onsite_html.tree(render(part.html, context, html=True))
        out["text"] = onsite_html.plain(out["body"])
    else:
        out["text"] = render(part.text or "", context)
        out["body"] = [out["text"]]
    out["buttons"] = [  # a link the page could not follow safely is no button
        b for b in _buttons(part.buttons, context) if "id" in b or onsite_html.safe_href(b["url"])
    ]
    if part.capture is not None:
        capture = part.capture
        out["capture"] = {
            "field": capture.field,
            "placeholder": render(capture.placeholder or "", context),
            "button": render(capture.button, context),
        }
    return out


def _buttons(buttons: Any, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"text": render(b.text, context), "url": render(b.url, context)}
        if b.url is not None
        else {"text": render(b.text, context), "id": b.id}
        for b in buttons
    ]


def check_template(
    source: str, known_contact: set[str] | None, known_event: set[str] | None
) -> list[tuple[int, str]]:
    """(line within the template, message) for syntax errors and unknown variables.
    contact.X / event.X are checked only when the funnel declares `sample` data for them."""
    try:
        template = compile_template(source)
    except _liquid_error() as exc:
        return [(_line_of(source, exc), _first_line(exc))]
    problems = []
    for root, uses in template.analyze().globals.items():
        for var in uses:
            msg = _unknown(root, [str(s) for s in var.segments], known_contact, known_event)
            if msg:
                problems.append((source.count("\n", 0, var.span.index) + 1, msg))
    return problems


def _unknown(
    root: str, segs: list[str], known_contact: set[str] | None, known_event: set[str] | None
) -> str | None:
    key = segs[1] if len(segs) > 1 else None
    if root not in ROOTS:
        return f"unknown template variable '{root}' (known: {', '.join(sorted(ROOTS))})"
    if root == "links" and key and key not in LINK_KEYS:
        return f"unknown link 'links.{key}' (known: {', '.join(sorted(LINK_KEYS))})"
    if root == "contact" and key and key not in CONTACT_BUILTINS:
        return figures.unknown_field(".".join(segs[1:]), known_contact, "contact.")
    if root == "event" and key and known_event is not None and key not in known_event:
        return f"'event.{key}' is not in sample.event"
    return None


def try_render(source: str, context: Mapping[str, Any], html: bool = False) -> str | None:
    """The error message if rendering with sample data fails, else None."""
    try:
        render(source, context, html)
    except _liquid_error() as exc:
        return _first_line(exc)
    except Exception as exc:  # a filter raising on odd sample data is still a template bug
        return f"{type(exc).__name__}: {exc}"
    return None


def _line_of(source: str, exc: LiquidError) -> int:
    token = getattr(exc, "token", None)
    index = getattr(token, "start_index", 0) or 0
    return source.count("\n", 0, index) + 1


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
