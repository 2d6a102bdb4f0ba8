"""The engine must stay pure: no AWS, HTTP or Chalice code may be imported by chalicelib.core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[3] / "chalicelib" / "core"
ALLOWED_THIRD_PARTY = {"pydantic", "yaml", "liquid", "phonenumbers", "pydantic_core"}
FORBIDDEN = ("boto3", "botocore", "pynamodb", "chalice", "requests", "urllib3", "aiobotocore")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_only_stdlib_and_allowed_libraries() -> None:
    for path in CORE.glob("*.py"):
        outside = {
            n
            for n in _imports(path) - {"chalicelib", "__future__"}
            if n not in sys.stdlib_module_names
        }
        assert outside <= ALLOWED_THIRD_PARTY, f"{path.name} imports {outside}"


def test_importing_core_loads_no_sdk() -> None:
    modules = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import chalicelib.core.{m}\n" for m in modules)
        + f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        + "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=CORE.parents[1])
