"""Validation problems with file:line, and finding the YAML line of a field path.

`Problem(file, line, field, message)` prints as "file:line: field: message";
`FunnelValidationError.problems` lists them and its str() is one problem per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # PyYAML's import is 16 ms of an API cold start that never parses a funnel
    import yaml


class Problem(NamedTuple):
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field or '(funnel)'}: {self.message}"


class FunnelValidationError(ValueError):
    def __init__(self, problems: Sequence[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.field))
        super().__init__("\n".join(str(p) for p in self.problems))


Loc = Sequence[str | int]


def format_field(path: Loc) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _child(node: yaml.Node, key: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    import yaml

    """(key node, value node) of a mapping entry or sequence item, if present."""
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        item = node.value[key]
        return item, item
    return None


Found = tuple[int, list[str | int], "yaml.Node", "yaml.Node"]  # (matched, path, key node, value)


def _walk(node: yaml.Node, loc: Loc, i: int) -> Found:
    """Deepest match of loc[i:] in the tree. Elements that are not in the YAML (pydantic's
    union tags, or a missing field) may be skipped; we keep whichever reading matches most."""
    if i == len(loc):
        return 0, [], node, node
    best = _walk(node, loc, i + 1)  # skip loc[i]
    hit = _child(node, loc[i])
    if hit is not None:
        key_node, value_node = hit
        deeper = _walk(value_node, loc, i + 1)
        if deeper[0] == 0:
            deeper = (0, [], key_node, value_node)
        if deeper[0] + 1 >= best[0]:
            best = (deeper[0] + 1, [loc[i], *deeper[1]], deeper[2], deeper[3])
    return best


def locate_node(
    root: yaml.Node, loc: Loc, tags: frozenset[str] = frozenset()
) -> tuple[yaml.Node, yaml.Node, str]:
    """(key node, value node, field path) of the deepest YAML match of a pydantic/semantic
    location. `tags` are union tag names pydantic puts in locations; never a missing field."""
    _, path, key_node, value_node = _walk(root, loc, 0)
    last = loc[-1] if loc else None
    if isinstance(last, str) and last not in tags and (not path or path[-1] != last):
        path = [*path, last]  # name a missing field even though it has no line of its own
    return key_node, value_node, format_field(path)


def locate(root: yaml.Node | None, loc: Loc, tags: frozenset[str] = frozenset()) -> tuple[int, str]:
    """(1-based line, field path) of a location; line 1 when there is no YAML tree."""
    if root is None:
        return 1, format_field([p for p in loc if p not in tags])
    key_node, _, field = locate_node(root, loc, tags)
    return key_node.start_mark.line + 1, field


def template_line(node: yaml.Node, line_in_template: int) -> int:
    """File line of a template's n-th line: block scalars (| and >) start on the next line."""
    import yaml

    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        return node.start_mark.line + 1 + line_in_template
    return node.start_mark.line + 1
