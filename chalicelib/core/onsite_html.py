"""The body of an on-site message: its HTML reduced to a small tree of allowed elements.

The snippet builds the message from this tree with createElement and text nodes, never with
innerHTML, so nothing in a message can run script on the shop's page, whatever a template or
the data in it contains, and the page's Content-Security-Policy (even Trusted Types) needs no
exception. A node is a string (text) or [tag, {attribute: value}, *children].

    tree(html) -> list[node]      allowed elements kept, everything else dropped or unwrapped
    plain(nodes) -> str           the text of a tree (previews, logs)
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

ALLOWED = frozenset(
    {"p", "br", "b", "strong", "i", "em", "u", "small", "a", "ul", "ol", "li", "span", "h3", "h4"}
)
VOID = frozenset({"br"})
DROPPED = frozenset({"script", "style", "template", "iframe", "object", "noscript", "title"})
SAFE_SCHEMES = ("https://", "http://", "mailto:", "tel:")
MAX_DEPTH = 8
MAX_NODES = 400

Node = str | list[Any]


def safe_href(href: str) -> str | None:
    """http(s), mailto and tel links, and paths on the site itself; nothing else."""
    href = href.strip()
    if href.lower().startswith(SAFE_SCHEMES):
        return href
    if href.startswith("/") and not href.startswith("//"):
        return href
    return None


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: list[Node] = []
        self.stack: list[list[Any]] = []
        self.skipping = 0  # inside <script> and the like
        self.count = 0

    def _children(self) -> list[Any]:
        return self.stack[-1] if self.stack else self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED:
            self.skipping += 1
            return
        if self.skipping or tag not in ALLOWED or self.count >= MAX_NODES:
            return  # unknown elements are unwrapped: their text stays
        if len(self.stack) >= MAX_DEPTH and tag not in VOID:
            return
        kept: dict[str, str] = {}
        if tag == "a":
            href = safe_href(dict(attrs).get("href") or "")
            if href:
                kept["href"] = href
        node: list[Any] = [tag, kept]
        self._children().append(node)
        self.count += 1
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED:
            self.skipping = max(0, self.skipping - 1)
            return
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if self.skipping or not data or self.count >= MAX_NODES:
            return
        children = self._children()
        if children and isinstance(children[-1], str):
            children[-1] += data
        else:
            children.append(data)
            self.count += 1


def tree(html: str) -> list[Node]:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return _trim(builder.root)


def _trim(nodes: list[Node]) -> list[Node]:
    """Whitespace-only text between block elements is layout of the source, not content."""
    out: list[Node] = []
    for node in nodes:
        if isinstance(node, str):
            if node.strip() or (out and isinstance(out[-1], list) and out[-1][0] not in _BLOCKS):
                out.append(node)
        else:
            out.append([node[0], node[1], *_trim(node[2:])])
    while out and isinstance(out[-1], str) and not out[-1].strip():
        out.pop()
    return out


_BLOCKS = frozenset({"p", "ul", "ol", "li", "h3", "h4", "br"})


def plain(nodes: list[Node]) -> str:
    parts: list[str] = []

    def walk(items: list[Node]) -> None:
        for node in items:
            if isinstance(node, str):
                parts.append(node)
                continue
            if node[0] == "br":
                parts.append("\n")
            walk(node[2:])
            if node[0] in _BLOCKS and node[0] != "br":
                parts.append("\n")

    walk(nodes)
    return "\n".join(line.strip() for line in "".join(parts).splitlines() if line.strip())
