"""Secrets: SSM Parameter Store references, and the check that keeps weak ones off AWS.

Any setting may name a SecureString parameter instead of holding the secret:
`AUTOFUNNEL_ADMIN_KEY=ssm:/autofunnel/prod/admin-key`. The stage config then carries only the
name; the value is read once per container (one GetParameters call per 10 names, decrypted)
and cached with the settings.

Off the laptop (no DynamoDB Local endpoint), a documented development default, or a secret (the
admin key, the signing secret, the identity secret, a server key) shorter than
MIN_SECRET_LENGTH, is refused: every HTTP route
answers 503 and the log says which setting to fix (the answer does not: it would tell a stranger
which key is weak). Write keys are public by design (they sit in every page), so only the
development defaults are refused among them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.config import Settings

SSM_PREFIX = "ssm:"
SSM_BATCH = 10  # GetParameters takes at most 10 names
MIN_SECRET_LENGTH = 32
# The keys the README and `make run` document for local use: never valid on AWS.
DEVELOPMENT_DEFAULTS = frozenset(
    {
        "dev-admin-key",
        "dev-write-key",
        "dev-server-key",
        "local-signing-secret",
        "local-identity-secret",
        "WRITE_KEY",
    }
)

Fetch = Callable[[Sequence[str]], Mapping[str, str]]


class SecretsUnavailable(RuntimeError):
    """A referenced SSM parameter could not be read; the message names it, never its value."""


def resolve(env: Mapping[str, str], fetch: Fetch | None = None) -> dict[str, str]:
    """`env` with every `ssm:<name>` value replaced by the parameter's decrypted value."""
    references = {
        name: value.removeprefix(SSM_PREFIX).strip()
        for name, value in env.items()
        if value.startswith(SSM_PREFIX)
    }
    if not references:
        return dict(env)
    wanted = sorted(set(references.values()))
    values = (fetch or fetch_from_ssm)(wanted)
    missing = [name for name in wanted if name not in values]
    if missing:
        raise SecretsUnavailable(f"SSM parameters not found: {', '.join(missing)}")
    return {**env, **{name: values[parameter] for name, parameter in references.items()}}


def fetch_from_ssm(names: Sequence[str], client: Any = None) -> dict[str, str]:
    """GetParameters WithDecryption, 10 names per call; parameters that do not exist are left
    out of the answer."""
    if client is None:
        import os

        import botocore.session  # lazily: only a stage that uses SSM pays for the client

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        client = botocore.session.get_session().create_client("ssm", region_name=region)
    found: dict[str, str] = {}
    try:
        for start in range(0, len(names), SSM_BATCH):
            answer = client.get_parameters(
                Names=list(names[start : start + SSM_BATCH]), WithDecryption=True
            )
            found.update({item["Name"]: item["Value"] for item in answer.get("Parameters", [])})
    except Exception as error:  # botocore's errors: no credentials, no network, access denied
        raise SecretsUnavailable(f"could not read SSM parameters: {error}") from error
    return found


def weak_secrets(settings: Settings) -> list[str]:
    """Why these settings must not serve on AWS (empty when they may, and always locally)."""
    if settings.is_local:
        return []
    secret = {
        "AUTOFUNNEL_ADMIN_KEY": settings.admin_key,
        "AUTOFUNNEL_SIGNING_SECRET": settings.signing_secret,
        "AUTOFUNNEL_IDENTITY_SECRET": settings.identity_secret,
        **{
            f"AUTOFUNNEL_SERVER_KEYS (key {index + 1})": key
            for index, key in enumerate(settings.server_keys)
        },
    }
    public = {f"the write key {key.key!r}": key.key for key in settings.write_keys}
    problems = []
    for name, value in {**secret, **public}.items():
        if not value:
            continue
        if value in DEVELOPMENT_DEFAULTS:
            problems.append(f"{name} is a documented development default")
        elif name in secret and len(value) < MIN_SECRET_LENGTH:
            problems.append(
                f"{name} is shorter than {MIN_SECRET_LENGTH} characters "
                "(generate one with `openssl rand -hex 32`)"
            )
    return problems
