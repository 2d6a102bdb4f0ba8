"""The code that dataclasses and typing compile from source text at run time, compiled at build.

`@dataclass` writes each method it generates (`__init__`, `__repr__`, `__eq__`, and for a frozen
class `__setattr__`, `__delattr__`, `__hash__`) as source text and compiles it: some 500 texts
for the worker's graph. typing compiles each string annotation it resolves, and the funnel
language's loader (chalicelib/core/plain.py) resolves every field's: some 300 more. Parsing and
compiling them was about 280M instructions of the worker's cold start (bench/bench_startup.py).
Like the `.pyc` files beside the modules, the package carries their code objects, compiled when
it is built (autofunnel/package.py runs `record` once the worker's graph and the loader's are
built) and keyed by the exact text: a text the cache does not hold is compiled as before, and a
cache written by another Python's bytecode is ignored. Without the file (a source checkout)
nothing changes but the lookups.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib.util
import marshal
import typing
from pathlib import Path
from types import CodeType
from typing import Any

CACHE = Path(__file__).with_name("compiled_sources.bin")
_compiled: dict[str, CodeType] = {}


def install(cache: Path = CACHE) -> None:
    """Serve dataclasses' and typing's compilations from `cache` (if there is one) from now on."""
    try:
        magic, codes = marshal.loads(cache.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        magic, codes = None, {}
    if magic == importlib.util.MAGIC_NUMBER:
        _compiled.update(codes)
    # The two modules call the builtins by name: a module global of that name comes first.
    dataclasses.exec = _exec  # type: ignore[attr-defined]
    typing.compile = _compile  # type: ignore[attr-defined]


def record(cache: Path = CACHE) -> int:
    """Write every text compiled since `install` to `cache` (the package's build); their count."""
    cache.write_bytes(marshal.dumps((importlib.util.MAGIC_NUMBER, _compiled)))
    return len(_compiled)


def _code(source: str, mode: str) -> CodeType:
    key = f"{mode}\0{source}"
    code = _compiled.get(key)
    if code is None:  # as the callers compile it: their modules import no __future__ features
        code = _compiled[key] = builtins.compile(source, "<string>", mode, dont_inherit=True)
    return code


def _exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    builtins.exec(_code(source, "exec") if isinstance(source, str) else source, globals, locals)


def _compile(source: Any, filename: str, mode: str, *more: Any, **options: Any) -> Any:
    if isinstance(source, str) and filename == "<string>" and not more and not options:
        return _code(source, mode)
    return builtins.compile(source, filename, mode, *more, **options)
