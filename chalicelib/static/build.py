"""Minify the snippet: `python -m chalicelib.static.build` writes t.min.js from t.src.js.

A development step (rjsmin is a dev dependency); the Lambda serves the committed t.min.js, and a
test fails if it is stale or over the size budget.
"""

from __future__ import annotations

import gzip
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "t.src.js"
TARGET = HERE / "t.min.js"
BUDGET = 6144  # bytes, minified and gzipped


def minify(source: str) -> str:
    import rjsmin

    return rjsmin.jsmin(source).strip() + "\n"


def gzipped_size(text: str) -> int:
    return len(gzip.compress(text.encode(), compresslevel=9, mtime=0))


def main() -> None:
    minified = minify(SOURCE.read_text(encoding="utf-8"))
    TARGET.write_text(minified, encoding="utf-8")
    print(f"wrote {TARGET.name}: {len(minified)} bytes, {gzipped_size(minified)} gzipped")


if __name__ == "__main__":
    main()
