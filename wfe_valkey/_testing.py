"""Test stores of the ``valkey://`` schemes: a fresh key prefix per test, its keys deleted after.

The plain schemes use the server ``scripts/services.sh`` runs (``WFE_TEST_VALKEY_URL``). The TLS
schemes (``valkeys://``, ``rediss://``) use ``WFE_TEST_VALKEYS_URL`` when it is set; otherwise,
where the plain server is configured and ``redis-server`` and ``openssl`` are installed, one
private TLS server per test process with a throwaway self-signed certificate, so that the TLS
path is tested for real too. It is stopped when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from ._url import parse_url

__all__ = ["test_store"]

PLAIN_VARIABLE = "WFE_TEST_VALKEY_URL"
TLS_VARIABLE = "WFE_TEST_VALKEYS_URL"

_tls_url: str | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _private_tls_server() -> str:
    """Start (once per process) a TLS redis-server on a free port; its ``rediss://`` URL."""
    global _tls_url
    if _tls_url is not None:
        return _tls_url
    from wfe_core.testing import StoreUnavailableError

    if not (shutil.which("redis-server") and shutil.which("openssl")):
        raise StoreUnavailableError(
            f"valkeys:// needs a TLS server: set {TLS_VARIABLE}, or install redis-server and openssl"
        )
    directory = Path(tempfile.mkdtemp(prefix="wfe-valkey-tls-"))
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(5)
        shutil.rmtree(directory, ignore_errors=True)

    atexit.register(stop)
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={quote(str(cert), safe='')}"
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            break
        except redis.RedisError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise StoreUnavailableError("the private TLS redis-server did not start") from None
            time.sleep(0.05)
    _tls_url = url
    return url


def _server_url(tls: bool) -> str:
    from wfe_core.testing import service_url

    if not tls:
        return service_url(PLAIN_VARIABLE, "valkey")
    if os.environ.get(TLS_VARIABLE):
        return os.environ[TLS_VARIABLE]
    service_url(PLAIN_VARIABLE, "valkeys")  # no services configured: skip as for the plain one
    return _private_tls_server()


@contextlib.contextmanager
def test_store(directory: Path, scheme: str = "valkey") -> Iterator[str]:
    """The URL of a fresh key prefix on the test server, spelled with ``scheme``."""
    base = parse_url(_server_url(scheme in ("valkeys", "rediss")))
    prefix = f"wfe-test-{uuid.uuid4().hex[:12]}"
    auth = f"{quote(base.username or '', safe='')}:{quote(base.password, safe='')}@" if base.password else ""
    extra = "".join(f"&{k}={quote(v, safe='')}" for k, v in base.passed_on)
    yield f"{scheme}://{auth}{base.host}:{base.port}/{base.db}?prefix={prefix}{extra}"
    import redis

    client = redis.Redis.from_url(base.client_url, socket_connect_timeout=5)
    try:
        names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if names:
            client.delete(*names)
    finally:
        client.close()


test_store.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
