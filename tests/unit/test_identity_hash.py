"""Identity hashes: the README's server-side snippets compute what the API verifies, and only a
valid hash of the call's own user id (or email) makes a write-key call proof."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from chalicelib.core.trust import CLAIM, IDENTITY_HASH, SERVER
from chalicelib.ingest.spec import parse_call
from chalicelib.ingest.verification import identity_hash, with_trust

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECRET = "s" * 40
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def readme_block(language: str) -> str:
    section = README[README.index("**Identity verification.**") :]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_python_snippet_computes_the_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOFUNNEL_IDENTITY_SECRET", SECRET)
    scope = {"customer": SimpleNamespace(id=1042)}
    exec(readme_block("python"), scope)  # (our own README)
    assert scope["user_hash"] == identity_hash(SECRET, "1042")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_readme_node_snippet_computes_the_hash() -> None:
    code = "const customer = {id: 1042};\n" + readme_block("js") + "\nconsole.log(userHash);"
    done = subprocess.run(
        ["node", "-e", code],
        env={"AUTOFUNNEL_IDENTITY_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert done.stdout.strip() == identity_hash(SECRET, "1042")


def call(**raw: object) -> object:
    return parse_call({"type": "identify", "anonymousId": "a", **raw}, NOW)


def test_a_hash_proves_the_user_id_or_else_an_email_of_the_call() -> None:
    by_user = with_trust(call(userId="u1", userHash=identity_hash(SECRET, "u1")), False, SECRET)
    assert (by_user.trust, by_user.anchor) == (IDENTITY_HASH, "user:u1")
    email = {"traits": {"email": "Vera@Example.com"}}
    for signed in ("Vera@Example.com", "vera@example.com"):  # as typed, or lower-cased
        found = with_trust(call(**email, userHash=identity_hash(SECRET, signed)), False, SECRET)
        assert (found.trust, found.anchor) == (IDENTITY_HASH, "email:vera@example.com")
    in_context = call(
        traits={"email": "new@example.com"},
        context={
            "traits": {"email": "vera@example.com"},
            "userHash": identity_hash(SECRET, "vera@example.com"),
        },
    )
    assert with_trust(in_context, False, SECRET).anchor == "email:vera@example.com"
    assert "userHash" not in in_context.context  # a credential: never stored


@pytest.mark.parametrize(
    "raw",
    [
        {"userId": "u1", "userHash": identity_hash(SECRET, "u2")},  # somebody else's
        {"userId": "u1", "userHash": identity_hash("other-secret" * 4, "u1")},
        {
            "userId": "u1",
            "traits": {"email": "a@b.co"},
            "userHash": identity_hash(SECRET, "a@b.co"),
        },
        {"traits": {"email": "a@b.co"}, "userHash": "0" * 64},
        {"traits": {"email": "a@b.co"}},
    ],
)
def test_anything_else_is_a_claim(raw: dict[str, object]) -> None:
    found = with_trust(call(**raw), False, SECRET)
    assert (found.trust, found.anchor) == (CLAIM, None)
    assert with_trust(call(**raw), False, "").trust == CLAIM  # no secret: no verification


def test_a_server_key_proves_everything() -> None:
    assert with_trust(call(userId="u1"), True, SECRET).trust == SERVER
