"""Helpers for the pure-core tests: build contacts, funnels and engine inputs tersely."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core.funnel import Funnel
from chalicelib.core.state import ContactView
from chalicelib.core.validate import parse_funnel

ROOT = Path(__file__).resolve().parents[3]
FUNNELS = ROOT / "funnels"
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin


def funnel(text: str, filename: str = "test.yaml") -> Funnel:
    """A funnel from an inline (indented) YAML string, fully validated."""
    return parse_funnel(textwrap.dedent(text), filename)


def load(name: str) -> Funnel:
    path = next(FUNNELS.rglob(f"{name}.yaml"))
    return parse_funnel(path.read_text(encoding="utf-8"), str(path))


def contact(**kw: Any) -> ContactView:
    kw.setdefault("contact_id", "c1")
    kw.setdefault("reachable_channels", frozenset({"email"}))
    for key in ("tags", "segments", "reachable_channels"):
        if key in kw:
            kw[key] = frozenset(kw[key])
    return ContactView(**kw)


def at(offset: str) -> datetime:
    from chalicelib.core.story import parse_offset

    return T0 + parse_offset(offset)


@pytest.fixture
def mins() -> Any:
    return lambda n: timedelta(minutes=n)
