"""Outbound webhooks go to public https hosts only, and connect to the address that was checked."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.channels import http, targets
from chalicelib.channels.base import OutgoingMessage
from chalicelib.channels.webhook import WebhookChannel


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", (address, port)) for address in addresses]

    return resolve


@pytest.mark.parametrize(
    ("url", "addresses", "why"),
    [
        ("http://hooks.example/x", ("93.184.216.34",), "must be https"),
        ("ftp://hooks.example/x", ("93.184.216.34",), "https://host"),
        ("https:///x", (), "https://host"),
        ("https://meta.example/", ("169.254.169.254",), "not a public address"),
        ("https://local.example/", ("127.0.0.1",), "not a public address"),
        ("https://vpc.example/", ("10.0.3.7",), "not a public address"),
        ("https://v6.example/", ("::1",), "not a public address"),
        ("https://mapped.example/", ("::ffff:169.254.169.254",), "not a public address"),
        ("https://mixed.example/", ("93.184.216.34", "192.168.1.1"), "not a public address"),
        ("https://[::1/", (), "not a URL"),
    ],
)
def test_unsafe_webhook_urls_are_refused_on_aws(
    url: str, addresses: tuple[str, ...], why: str
) -> None:
    with pytest.raises(targets.UnsafeTarget, match=why):
        targets.check(url, local=False, resolve=resolver(*addresses))


def test_a_public_https_host_is_pinned_to_its_checked_address_and_local_allows_anything() -> None:
    assert targets.check("https://hooks.example/x", False, resolver("93.184.216.34")) == (
        "93.184.216.34"
    )
    assert targets.check("http://127.0.0.1:8080/x", local=True) is None


def test_a_refused_url_sends_nothing_and_fails_for_good() -> None:
    channel = WebhookChannel("secret", resolve=resolver("169.254.169.254"))
    message = OutgoingMessage("m", "webhook", "https://meta.example/", {"json": {}}, "c")
    with pytest.raises(targets.UnsafeTarget) as refused:
        channel.send(message)
    assert refused.value.address_unreachable is False  # the contact is not at fault


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext, list[dict[str, str]]]]:
    """An https receiver on 127.0.0.1 whose certificate names hooks.example."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"host": self.headers["Host"], "path": self.path})
            self.send_response(302)  # a redirect must not be followed
            self.send_header("Location", "http://169.254.169.254/")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cadata=cert_pem.decode())
    yield server.server_address[1], client_context, seen
    server.shutdown()


def test_the_connection_goes_to_the_checked_address_verifying_the_host_name(
    tls_receiver: tuple[int, ssl.SSLContext, list[dict[str, str]]],
) -> None:
    port, context, seen = tls_receiver
    url = f"https://hooks.example:{port}/in?x=1"  # hooks.example resolves nowhere: pinned
    response = http.post(url, b"{}", {}, timeout=5, connect_to="127.0.0.1", context=context)
    assert response.status == 302  # answered as is, not followed
    assert seen == [{"host": f"hooks.example:{port}", "path": "/in?x=1"}]
    with pytest.raises(Exception, match=r"hooks\.other"):  # the certificate must name the host
        http.post(
            f"https://hooks.other:{port}/",
            b"{}",
            {},
            timeout=5,
            connect_to="127.0.0.1",
            context=context,
        )
