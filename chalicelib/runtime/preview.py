"""What a send step's message looks like for one contact (or the funnel's sample): rendered as
the engine would render it, per channel, with what a marketer checks before sending: an
email's subject, preheader, HTML and text part; an SMS's encoding and segments; a chat
message's buttons; an on-site message's body.

    render(funnel, step_id, contact, event, links) -> Preview
    Preview.channels: channel -> parts (plus `encoding`, `segments`, `warnings` for SMS)
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.channels.segments import sms_encoding, sms_segments
from chalicelib.core import templates
from chalicelib.core.funnel import Funnel, SendStep
from chalicelib.core.state import ContactView

MAX_SEGMENTS = 3  # past this an SMS costs (and reads) like a letter
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(br|/p|/div|/h\d|/li|/tr)\b[^>]*>", re.IGNORECASE)


class NotASend(ValueError):
    pass


@dataclass
class Preview:
    funnel: str
    step: str
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"funnel": self.funnel, "step": self.step, "channels": self.channels}


def send_steps(funnel: Funnel) -> list[dict[str, Any]]:
    return [
        {"id": step.id, "channels": list(step.channels)}
        for step in funnel.steps
        if isinstance(step, SendStep)
    ]


def render(
    funnel: Funnel,
    step_id: str,
    contact: ContactView,
    event: Mapping[str, Any],
    links: Mapping[str, str],
    only: str | None = None,
) -> Preview:
    step = funnel.step_map.get(step_id)
    if not isinstance(step, SendStep):
        kinds = ", ".join(s["id"] for s in send_steps(funnel)) or "none"
        what = f"a {step.kind} step" if step is not None else "not a step of the funnel"
        raise NotASend(f"{step_id!r} is {what}; its send steps: {kinds}")
    channels = [c for c in step.channels if only in (None, c)]
    if not channels:
        raise NotASend(f"step {step_id!r} does not send on {only!r} ({', '.join(step.channels)})")
    content = funnel.content_for(step)
    context = templates.make_context(contact.template_data(), event, links, funnel.name, step.id)
    preview = Preview(funnel.name, step.id)
    for channel in channels:
        parts = templates.render_content(content, channel, context)
        preview.channels[channel] = _annotated(channel, parts)
    return preview


def _annotated(channel: str, parts: dict[str, Any]) -> dict[str, Any]:
    out = dict(parts)
    if channel == "email":
        if not out.get("text") and out.get("html"):
            out["text"] = text_of_html(out["html"])
            out["text_derived"] = True  # no text part: what a plain-text reader would see
    elif channel in ("sms", "whatsapp"):
        text = str(out.get("text") or "")
        out["encoding"] = sms_encoding(text)
        out["characters"] = len(text)
        out["segments"] = sms_segments(text)
        if channel == "sms" and out["segments"] > MAX_SEGMENTS:
            out["warnings"] = [
                f"{out['segments']} segments ({out['encoding']}): over {MAX_SEGMENTS}, the text "
                "costs as many messages; shorten it"
                + (" or drop the characters outside GSM-7" if out["encoding"] == "UCS-2" else "")
            ]
    return out


def text_of_html(markup: str) -> str:
    text = _TAG.sub("", _BREAK.sub("\n", markup))
    lines = (html.unescape(line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)
