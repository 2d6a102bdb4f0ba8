"""The deployment package, unpacked, runs the app in a clean interpreter with nothing beside it
but the runtime's SDK: what Lambda does with /var/task and /var/runtime."""

from __future__ import annotations

import json
import marshal
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from autofunnel.package import LEFT_OUT, build_package, runtime_imports, unpack_like_lambda
from chalicelib.config import Settings
from tests.conftest import WRITE_KEY, fresh_process_env

pytestmark = pytest.mark.slow
PROJECT_DIR = Path(__file__).resolve().parents[2]
PROBE = PROJECT_DIR / "bench" / "cold_start_probe.py"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ci", "AWS_SECRET_ACCESS_KEY": "ci"}  # chalice package
ZIP_LIMIT = 30_000_000  # bytes; Chalice's direct upload stops at 50 MiB
IMPORT_CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        parent, _, attribute = name.rpartition(".")
        found = parent and hasattr(importlib.import_module(parent), attribute)
        if error.name != name or not found:
            raise SystemExit(f"{name}: {error}")
import botocore
print(botocore.__file__)
"""
PROVIDER_CHECK = """
import base64, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator
from twilio.rest import Client

key = ec.generate_private_key(ec.SECP256R1())
public = key.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)
payload, timestamp = '[{"event": "open"}]', "1700000000"
signature = base64.b64encode(key.sign((timestamp + payload).encode(), ec.ECDSA(hashes.SHA256())))
assert EventWebhook(base64.b64encode(public).decode()).verify_signature(
    payload, signature.decode(), timestamp
)
validator = RequestValidator("token")
url, params = "https://api.example/webhooks/twilio/status", {"MessageStatus": "sent"}
assert validator.validate(url, params, validator.compute_signature(url, params))
Client("AC" + "0" * 32, "token")
print("providers ok")
"""


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """(the zip, its unpacked tree, a stand-in for /var/runtime holding only the SDK)."""
    root = tmp_path_factory.mktemp("package")
    archive = build_package("prod", root / "out", import_env=CREDENTIALS)
    tree, runtime = unpack_like_lambda(archive, root)
    yield archive, tree, runtime


def clean_python(tree: Path, runtime: Path, *arguments: str, env: dict[str, str] | None = None):
    """-I: no environment or user site; -S: no site-packages; -B: /var/task is read only."""
    return subprocess.run(
        [sys.executable, "-I", "-S", "-B", *arguments],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_package_is_well_under_the_limits(unpacked: tuple[Path, Path, Path]) -> None:
    archive = unpacked[0]
    assert archive.stat().st_size <= ZIP_LIMIT
    with zipfile.ZipFile(archive) as zipped:
        entries = zipped.infolist()
    names = {entry.filename for entry in entries}
    assert sum(entry.file_size for entry in entries) < 250_000_000  # Lambda's unzipped limit
    tops = {name.split("/")[0] for name in names}
    assert "botocore" not in tops and "aiohttp" not in tops and "werkzeug" not in tops
    assert not any(name.startswith("babel/locale-data/") for name in names)
    assert not any(name.split("-")[0].replace("_", "-").lower() in LEFT_OUT for name in tops)
    # modules come with their bytecode: a read-only /var/task cannot cache it
    assert "chalicelib/__pycache__/wiring.cpython-311.pyc" in names
    assert "pydantic/__pycache__/main.cpython-311.pyc" in names
    # also what Chalice's packager adds itself: the handler module and Chalice's runtime
    assert "__pycache__/app.cpython-311.pyc" in names
    assert "chalice/__pycache__/app.cpython-311.pyc" in names
    # and so does the code dataclasses and typing compile from text (chalicelib/compiled_sources)
    assert "chalicelib/compiled_sources.bin" in names


def test_tracebacks_on_lambda_name_the_deployed_files(unpacked: tuple[Path, Path, Path]) -> None:
    """The bytecode names each file where Lambda unpacks it, so CloudWatch shows source lines."""
    tree = unpacked[1]
    for compiled, source in [
        ("chalicelib/__pycache__/wiring.cpython-311.pyc", "/var/task/chalicelib/wiring.py"),
        ("pydantic/__pycache__/main.cpython-311.pyc", "/var/task/pydantic/main.py"),
        ("__pycache__/app.cpython-311.pyc", "/var/task/app.py"),
    ]:
        code = marshal.loads((tree / compiled).read_bytes()[16:])  # past the .pyc header
        assert code.co_filename == source


def test_every_module_the_app_imports_loads_from_the_package(
    unpacked: tuple[Path, Path, Path],
) -> None:
    _, tree, runtime = unpacked
    own, external = runtime_imports(PROJECT_DIR)
    path = f"import sys; sys.path[:0] = [{str(tree)!r}, {str(runtime)!r}]\n"
    result = clean_python(tree, runtime, "-c", path + IMPORT_CHECK, *own, *external)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().startswith(str(runtime)), "botocore must be the runtime's"
    result = clean_python(tree, runtime, "-c", path + PROVIDER_CHECK)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_unpacked_package_answers_a_track_call(
    unpacked: tuple[Path, Path, Path], settings: Settings
) -> None:
    _, tree, runtime = unpacked
    env = fresh_process_env(settings, AWS_LAMBDA_FUNCTION_NAME="autofunnel-test")
    user = f"packaged-{uuid.uuid4().hex[:8]}"
    result = clean_python(
        tree,
        runtime,
        str(PROBE),
        "--path",
        str(tree),
        "--path",
        str(runtime),
        "--write-key",
        WRITE_KEY,
        "--worker",
        user,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200, answer
    assert json.loads(answer["body"])["stored"] == 1
    assert "pydantic" not in answer["worker_loaded"]  # it validates where funnels are written
    lines = [json.loads(line) for line in result.stdout.splitlines()[:-1] if line.startswith("{")]
    assert any(line.get("_aws", {}).get("CloudWatchMetrics") for line in lines)  # EMF
    assert any(line.get("message") == "request" and line["status"] == 200 for line in lines)
    from chalicelib.identity import store as identities
    from chalicelib.identity.keys import identity_key
    from chalicelib.storage.models import Enrollment

    contact = identities.owner(identity_key("user", user))
    assert contact is not None
    enrolled = [e.funnel for e in Enrollment.query(contact)]
    assert enrolled == ["abandoned_cart"]  # the worker ran the funnels inside the packaged app
