"""The Lambda deployment package: what goes in, what is left out, and why.

`requirements.txt` is installed for Lambda's platform (manylinux, CPython 3.11) into the build
copy's `vendor/` folder, which Chalice zips in beside the app; the build copy's own
requirements file is left empty so that Chalice adds nothing else. That lets the package leave
out what Lambda's Python runtime already provides and what nothing imports at run time, which
`pip` (and so Chalice's packager) cannot: PynamoDB pulls in botocore, python-liquid pulls in
babel's 33 MB of locale data, twilio pulls in aiohttp for an async client we never use.

`tests/deploy/test_package.py` unpacks the package and imports, in a clean interpreter with the
runtime's botocore beside it, every module the app imports (at module level or lazily inside a
function), then serves a request: an entry below that takes away something needed fails there.

Every `.py` file also gets an unchecked-hash `.pyc` beside it: Lambda's `/var/task` is read
only, so without them each cold start compiles every module it imports again. For the same
reason the code that dataclasses and typing compile from text while the app is imported and the
worker's graph built is compiled here too (`chalicelib/compiled_sources.bin`).
"""

from __future__ import annotations

import ast
import compileall
import hashlib
import importlib.util
import inspect
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from py_compile import PycInvalidationMode
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
STREAM_PLACEHOLDER = "/stream/not-deployed"  # chalicelib.config's stream ARNs off AWS
CACHE_DIR = PROJECT_DIR / ".cache" / "lambda-vendor"
PYTHON_VERSION = "3.11"  # the `python3.11` runtime Chalice deploys to (see its Runtime)
LAMBDA_ROOT = "/var/task"  # where Lambda unpacks the package
PLATFORM_ARGUMENTS = [
    "--platform=manylinux2014_x86_64",
    "--implementation=cp",
    f"--python-version={PYTHON_VERSION}",
    f"--abi=cp{PYTHON_VERSION.replace('.', '')}",
    "--only-binary=:all:",
]

# Distributions (as pip names them) left out of the package.
LEFT_OUT = {
    "botocore": "Lambda's Python runtime provides botocore and boto3 (PynamoDB needs botocore)",
    "jmespath": "botocore's dependency: provided with it",
    "aiohttp": "twilio's asyncio client: Autofunnel sends through twilio's synchronous client",
    "aiohttp-retry": "twilio's asyncio client",
    "aiohappyeyeballs": "aiohttp's dependency",
    "aiosignal": "aiohttp's dependency",
    "attrs": "aiohttp's dependency",
    "frozenlist": "aiohttp's dependency",
    "multidict": "aiohttp's dependency",
    "propcache": "aiohttp's dependency",
    "yarl": "aiohttp's dependency",
    "werkzeug": "sendgrid's inbound-parse helper (a Flask app), which Autofunnel does not use",
    "pycparser": "cffi's C parser, for building bindings (cryptography's are prebuilt)",
}
# Paths (relative to the installed packages) removed after the install.
PRUNED = {
    "babel/locale-data": (
        "python-liquid imports babel for its i18n filters, which no template here uses"
        " (they are not registered): the code stays, the 33 MB of locale data goes"
    ),
    "test": "sendgrid's own test suite, installed as a top-level package",
    "bin": "console scripts",
}


def vendor_key(requirements: str) -> str:
    """Changes whenever what goes into `vendor/` would change."""
    recipe = json.dumps(
        [requirements, PLATFORM_ARGUMENTS, sorted(LEFT_OUT), sorted(PRUNED), LAMBDA_ROOT],
        sort_keys=True,
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def vendor_dir(project_dir: Path = PROJECT_DIR, cache_dir: Path = CACHE_DIR) -> Path:
    """The installed, trimmed and compiled dependencies, built once per set of requirements."""
    requirements = (project_dir / "requirements.txt").read_text()
    target = cache_dir / vendor_key(requirements)
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="building-", dir=cache_dir))
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                f"--target={scratch}",
                *PLATFORM_ARGUMENTS,
                "-r",
                str(project_dir / "requirements.txt"),
            ],
            check=True,
        )
        trim(scratch)
        if sys.version_info[:2] == tuple(int(part) for part in PYTHON_VERSION.split(".")):
            # Chalice puts vendor/'s contents at the package's root.
            compile_tree(scratch, LAMBDA_ROOT)  # another Python's .pyc would be ignored
        os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def trim(site: Path) -> None:
    """Remove the LEFT_OUT distributions (every file their RECORD lists) and the PRUNED paths."""
    for dist_info in site.glob("*.dist-info"):
        name = _distribution_name(dist_info)
        if name not in LEFT_OUT:
            continue
        for line in (dist_info / "RECORD").read_text().splitlines():
            path = site / line.split(",")[0]
            if path.is_file() and path.resolve().is_relative_to(site.resolve()):
                path.unlink()
        shutil.rmtree(dist_info, ignore_errors=True)
    for relative in PRUNED:
        path = site / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    _remove_empty_dirs(site)


def compile_tree(root: Path, deployed_at: str) -> None:
    """Byte-compile for the runtime's Python; unchecked hashes stay valid whatever the mtimes.
    The code names the files where Lambda has them (`deployed_at`), not this build's temporary
    folder: a traceback in CloudWatch then shows each line's source."""
    ok = compileall.compile_dir(
        str(root),
        ddir=deployed_at,
        quiet=2,
        workers=1,
        invalidation_mode=PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise RuntimeError(f"some modules under {root} do not compile")


def _distribution_name(dist_info: Path) -> str:
    for line in (dist_info / "METADATA").read_text(errors="replace").splitlines():
        if line.startswith("Name:"):
            return re.sub(r"[-_.]+", "-", line.split(":", 1)[1].strip()).lower()
    return ""


def _remove_empty_dirs(root: Path) -> None:
    for directory, _subdirs, _files in sorted(os.walk(root), key=lambda w: -len(w[0])):
        path = Path(directory)
        if path != root and not any(path.iterdir()):
            path.rmdir()


def prepare_build(
    stage: str, env: Mapping[str, str], build: Path, project_dir: Path = PROJECT_DIR
) -> Path:
    """A throwaway copy of the project for Chalice: the app, the stage's environment with `env`
    (secrets never touch the repository's config), `vendor/` and an empty requirements file."""
    build.mkdir(parents=True)
    shutil.copy2(project_dir / "app.py", build)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(project_dir / "chalicelib", build / "chalicelib", ignore=ignore)
    shutil.copytree(
        project_dir / ".chalice",
        build / ".chalice",
        ignore=shutil.ignore_patterns("venv"),
        symlinks=True,
    )
    (build / "requirements.txt").write_text(
        "# Empty on purpose: the dependencies are in vendor/ (autofunnel/package.py).\n"
    )
    same_python = sys.version_info[:2] == tuple(int(part) for part in PYTHON_VERSION.split("."))
    if same_python:  # another Python's .pyc would be ignored by the runtime
        compile_tree(build / "chalicelib", f"{LAMBDA_ROOT}/chalicelib")
    link_vendor(build / "vendor", vendor_dir(project_dir), compile_sources=same_python)
    if same_python:
        record_compiled_sources(build)
    config_path = build / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    if stage not in config["stages"]:
        raise ValueError(f"stage {stage!r} is not in .chalice/config.json")
    config["stages"][stage].setdefault("environment_variables", {}).update(env)
    config_path.write_text(json.dumps(config, indent=2))
    return build


RECORDING = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/vendor"]
from chalicelib import compiled_sources
compiled_sources.install()
import app
from chalicelib import wiring
wiring.app().worker
from chalicelib.core import funnel, plain, segments
plain.reader(funnel.Funnel)  # how stored funnels and segments are read: their type hints
plain.reader(segments.SegmentDefinition)
print(compiled_sources.record())
"""


def record_compiled_sources(build: Path) -> None:
    """`chalicelib/compiled_sources.bin`: the code dataclasses and typing compile while the app
    is imported and the worker's graph is built (chalicelib/compiled_sources.py). With the
    default settings: nothing reaches AWS or a stage's secrets."""
    done = subprocess.run(
        [sys.executable, "-B", "-c", RECORDING, str(build)],
        cwd=build,
        env={"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"recording the compiled sources failed:\n{done.stderr[-3000:]}")


def link_vendor(vendor: Path, installed: Path, compile_sources: bool) -> None:
    """The build copy's `vendor/`, which Chalice zips in beside the app: the cached dependencies
    (linked, not copied) and, when `compile_sources`, the bytecode of what Chalice's packager
    adds to the zip without any: app.py and Chalice's runtime module `chalice/app.py` (~40 ms of
    compiling at every cold start otherwise)."""
    import chalice as chalice_package
    import chalice.app

    extra = {
        "app.py": vendor.parent / "app.py",
        "chalice/__init__.py": Path(inspect.getfile(chalice_package)),
        "chalice/app.py": Path(inspect.getfile(chalice.app)),
    }
    targets = {name: vendor / importlib.util.cache_from_source(name) for name in extra}
    vendor.mkdir()
    for entry in installed.iterdir():
        if entry.is_dir() and any(
            target.is_relative_to(vendor / entry.name) for target in targets.values()
        ):
            shutil.copytree(entry, vendor / entry.name, copy_function=os.symlink)
        else:
            (vendor / entry.name).symlink_to(entry)
    if not compile_sources:
        return
    for name, source in extra.items():
        py_compile.compile(
            str(source),
            cfile=str(targets[name]),
            dfile=f"{LAMBDA_ROOT}/{name}",
            doraise=True,
            invalidation_mode=PycInvalidationMode.UNCHECKED_HASH,
        )


def chalice(
    arguments: list[str], build: Path, import_env: Mapping[str, str], check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run the Chalice CLI in the build copy. `import_env` is what `app.py` reads when Chalice
    imports it to find the functions (the stream ARN of the worker's event source)."""
    executable = str(Path(sys.executable).parent / "chalice")
    return subprocess.run(
        [executable, *arguments], cwd=build, env={**os.environ, **import_env}, check=check
    )


def build_package(
    stage: str,
    out: Path,
    env: Mapping[str, str] | None = None,
    import_env: Mapping[str, str] | None = None,
    project_dir: Path = PROJECT_DIR,
) -> Path:
    """`chalice package` of the build copy into `out`: deployment.zip and sam.json."""
    env = dict(env or {})
    import_env = {
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        **(import_env or {}),
    }
    with tempfile.TemporaryDirectory() as scratch:
        build = prepare_build(stage, env, Path(scratch) / "autofunnel", project_dir)
        chalice(["package", "--stage", stage, str(out)], build, import_env)
        settings = json.loads((build / ".chalice" / "config.json").read_text())["stages"][stage]
    template = out / "sam.json"
    template.write_text(
        json.dumps(complete_template(json.loads(template.read_text()), settings, stage), indent=2)
    )
    return out / "deployment.zip"


def complete_template(
    sam: dict[str, Any], settings: Mapping[str, Any], stage: str
) -> dict[str, Any]:
    """What `autofunnel deploy` sets after `chalice deploy`, in the packaged template too: the
    API's throttling and the worker's failure handling. Also repairs Chalice 1.34's log group of
    the API handler, which it names after `${ApiHandler}` instead of the `APIHandler` it creates."""
    resources = sam["Resources"]
    log_group = resources.get("ApiHandlerLogGroup", {}).get("Properties", {})
    if log_group.get("LogGroupName") == {"Fn::Sub": "/aws/lambda/${ApiHandler}"}:
        log_group["LogGroupName"] = {"Fn::Sub": "/aws/lambda/${APIHandler}"}
    limits = settings.get("api_gateway_throttling")
    for resource in resources.values():
        if resource["Type"] == "AWS::Serverless::Api" and limits:
            resource["Properties"]["MethodSettings"] = [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "ThrottlingRateLimit": limits["rate_limit"],
                    "ThrottlingBurstLimit": limits["burst_limit"],
                }
            ]
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "DynamoDB":
                event["Properties"].update(stream_failure_options(settings, stage))
                stream = str(event["Properties"]["Stream"])
                if stream.endswith(STREAM_PLACEHOLDER):
                    # Packaged without a deployed stack at hand: the infra stack exports it.
                    table = stream.partition(":table/")[2].split("/", 1)[0]  # {prefix}-events
                    export = stream_export(stage, table.rsplit("-", 1)[-1])
                    event["Properties"]["Stream"] = {"Fn::ImportValue": export}
    return sam


def stream_export(stage: str, table: str = "events") -> str:
    """The infra stack's export of a table's stream ARN (`events`, `enrollments`)."""
    return f"autofunnel-{stage}-{table.capitalize()}StreamArn"


def stream_failure_options(settings: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The worker's event source mapping options (`worker_event_source` of the stage)."""
    options = settings.get("worker_event_source") or {}
    queue = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:" + (
        f"autofunnel-{stage}-worker-failures"
    )
    return {
        "FunctionResponseTypes": ["ReportBatchItemFailures"]
        if options.get("report_batch_item_failures")
        else [],
        "BisectBatchOnFunctionError": bool(options.get("bisect_batch_on_function_error")),
        "MaximumRetryAttempts": int(options.get("maximum_retry_attempts", -1)),
        "MaximumRecordAgeInSeconds": int(options.get("maximum_record_age_in_seconds", -1)),
        "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": {"Fn::Sub": queue}}},
    }


def runtime_imports(project_dir: Path = PROJECT_DIR) -> tuple[list[str], list[str]]:
    """Every module the app can import at run time: (its own, third-party), found by walking the
    imports (module level and inside functions, not TYPE_CHECKING blocks) from app.py."""
    own: set[str] = set()
    external: set[str] = set()
    pending = [("app", project_dir / "app.py")]
    while pending:
        name, path = pending.pop()
        if name in own:
            continue
        own.add(name)
        for imported in _imports_of(path, name):
            candidate = _module_path(project_dir, imported)
            if candidate is not None:
                pending.append((imported, candidate))
            elif imported.split(".")[0] not in {"chalicelib", "app", *sys.stdlib_module_names}:
                external.add(imported)
    return sorted(own), sorted(external)


def _imports_of(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for orelse in child.orelse:
                    visit(orelse)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - child.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names if alias.name != "*")
            visit(child)

    visit(tree)
    return {name for name in found if name and name != "__future__"}


def _module_path(project_dir: Path, module: str) -> Path | None:
    base = project_dir.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def unpack_like_lambda(archive: Path, root: Path) -> tuple[Path, Path]:
    """The package as Lambda lays it out: (`/var/task`, the zip unpacked; `/var/runtime`, a
    stand-in holding only the SDK the python3.11 runtime provides, with its bytecode)."""
    import botocore
    import jmespath

    task, runtime = root / "task", root / "runtime"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(task)
    runtime.mkdir()
    for module in (botocore, jmespath):
        shutil.copytree(Path(module.__file__).parent, runtime / module.__name__)
    return task, runtime
