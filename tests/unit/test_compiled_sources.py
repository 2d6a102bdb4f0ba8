"""The package carries the code dataclasses and typing compile at run time: classes built from
the cache behave as compiled ones do, without compiling; a cache from another Python is ignored."""

from __future__ import annotations

import builtins
import dataclasses
import importlib.util
import marshal
import typing
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from chalicelib import compiled_sources


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache file, and the modules and the in-memory cache as they were after the test."""
    for module, name in ((dataclasses, "exec"), (typing, "compile")):
        monkeypatch.setattr(module, name, getattr(module, name, None), raising=False)
    monkeypatch.setattr(compiled_sources, "_compiled", {})
    yield tmp_path / "compiled_sources.bin"


def define_point() -> type:
    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        label: str | None = None  # a string (__future__ annotations), which typing compiles

    return Point


def test_classes_built_from_the_cache_behave_as_compiled_ones_without_compiling(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled_sources.install(cache)  # no file yet: compiles, and remembers
    typing.get_type_hints(define_point())
    assert compiled_sources.record(cache) >= 6  # __init__, __repr__, __eq__, __hash__, ...
    monkeypatch.setattr(compiled_sources, "_compiled", {})
    compiling = SimpleNamespace(exec=builtins.exec, compile=lambda *a, **k: pytest.fail(str(a)))
    monkeypatch.setattr(compiled_sources, "builtins", compiling)

    compiled_sources.install(cache)
    point_class = define_point()
    point = point_class(1, "a")

    assert point == point_class(1, "a") and hash(point) == hash(point_class(1, "a"))
    assert point != point_class(1) and point_class(1).label is None
    assert repr(point) == "define_point.<locals>.Point(x=1, label='a')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    assert typing.get_type_hints(point_class)["label"] == str | None


def test_a_cache_from_another_pythons_bytecode_is_ignored(cache: Path) -> None:
    compiled_sources.install(cache)
    define_point()
    compiled_sources.record(cache)
    _, codes = marshal.loads(cache.read_bytes())
    cache.write_bytes(marshal.dumps((b"\x00\x00\r\n", codes)))
    assert importlib.util.MAGIC_NUMBER != b"\x00\x00\r\n"
    compiled_sources._compiled.clear()

    compiled_sources.install(cache)

    assert compiled_sources._compiled == {}
    point_class = define_point()  # compiled as before
    assert point_class(1) == point_class(1)
    assert compiled_sources._compiled  # and remembered
