"""How SubjectAccessReviews reach the API server: the kubeconfig's TLS settings (its CA,
`tls-server-name`, a client certificate, `insecure-skip-tls-verify`) and its credentials, read
again when they rotate (an exec credential plugin), as the kubernetes client would use them;
failures fail closed with the host named and never the token.

The stand-in serves https with a certificate authority made here; the server certificate names
only `kube.test`, so reaching it at 127.0.0.1 needs `tls-server-name` (or skipping checks).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.access.kube import KubeApi
from services.access.models import AccessCheck
from services.errors import AuthorizationUnavailable
from tests.standins.kube import TOKEN, KubeApiStandIn

T = TypeVar("T")
PODS_IN_PAYMENTS = AccessCheck("list", "pods", "", "payments")
SERVER_NAME = "kube.test"


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes


@dataclass(frozen=True)
class Pki:
    ca: Pem
    server: Pem
    client: Pem


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    subject: str, issuer: Pem | None, *, dns: str = "", usage: Any = None, ca: bool = False
) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    signer = key
    issuer_name = _name(subject)
    if issuer is not None:
        signer_key = serialization.load_pem_private_key(issuer.key, None)
        assert isinstance(signer_key, ec.EllipticCurvePrivateKey)
        signer = signer_key
        issuer_name = x509.load_pem_x509_certificate(issuer.cert).subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), True
        )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
    cert = builder.sign(signer, hashes.SHA256())
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = _issue("costbot test CA", None, ca=True)
    server = _issue(SERVER_NAME, ca, dns=SERVER_NAME, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = _issue("costbot", ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(ca, server, client)


def _server_context(pki: Pki, tmp: Path, *, client_certs: bool) -> ssl.SSLContext:
    (tmp / "server.crt").write_bytes(pki.server.cert)
    (tmp / "server.key").write_bytes(pki.server.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "server.crt", tmp / "server.key")
    if client_certs:
        context.load_verify_locations(cadata=pki.ca.cert.decode())
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kubeconfig(path: Path, server: str, cluster: dict[str, Any], user: dict[str, Any]) -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return str(path)


@pytest.fixture
def https(pki: Pki, tmp_path: Path) -> Iterator[KubeApiStandIn]:
    """The stand-in over https, asking for no client certificate."""
    standin = KubeApiStandIn(ssl_context=_server_context(pki, tmp_path, client_certs=False))
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def mutual(pki: Pki, tmp_path: Path) -> Iterator[KubeApiStandIn]:
    """The stand-in over https, refusing clients without a certificate from the test CA."""
    standin = KubeApiStandIn(ssl_context=_server_context(pki, tmp_path, client_certs=True))
    standin.start()
    yield standin
    standin.stop()


async def _allowed(kubeconfig: str) -> bool:
    api = KubeApi.from_config(kubeconfig, timeout=2.0)
    try:
        return await api.subject_access_review("alice", ["payments-devs"], PODS_IN_PAYMENTS)
    finally:
        await api.aclose()


# --- TLS ------------------------------------------------------------------------------------------
async def test_the_kubeconfig_ca_and_server_name_verify_the_api_server(
    https: KubeApiStandIn, pki: Pki, tmp_path: Path
) -> None:
    trusted = {"certificate-authority-data": _b64(pki.ca.cert), "tls-server-name": SERVER_NAME}
    api = KubeApi.from_config(_kubeconfig(tmp_path / "kc", https.url, trusted, {"token": TOKEN}))
    try:
        assert await api.subject_access_review("alice", ["payments-devs"], PODS_IN_PAYMENTS)
        search = AccessCheck("list", "pods", "", "search")
        assert not await api.subject_access_review("alice", ["payments-devs"], search)
        assert await api.can_create_sar()  # the kubernetes client, with the same settings
    finally:
        await api.aclose()
    assert https.url.startswith("https://")
    assert https.requests["sar"] == 2
    assert _bearers(https)[0] == f"Bearer {TOKEN}"


async def test_a_server_the_ca_does_not_vouch_for_is_unavailable(
    https: KubeApiStandIn, pki: Pki, tmp_path: Path
) -> None:
    """No CA in the kubeconfig: the system's roots, which never signed the test CA."""
    cluster = {"tls-server-name": SERVER_NAME}
    config = _kubeconfig(tmp_path / "kc", https.url, cluster, {"token": TOKEN})
    with pytest.raises(AuthorizationUnavailable, match="certificate verify failed") as caught:
        await _allowed(config)
    assert https.url in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert https.requests["sar"] == 0


async def test_a_certificate_for_another_name_is_unavailable(
    https: KubeApiStandIn, pki: Pki, tmp_path: Path
) -> None:
    """The right CA, but the certificate names kube.test and we dialled 127.0.0.1."""
    cluster = {"certificate-authority-data": _b64(pki.ca.cert)}
    config = _kubeconfig(tmp_path / "kc", https.url, cluster, {"token": TOKEN})
    with pytest.raises(AuthorizationUnavailable, match=r"127\.0\.0\.1"):
        await _allowed(config)
    assert https.requests["sar"] == 0


async def test_insecure_skip_tls_verify_is_honoured(https: KubeApiStandIn, tmp_path: Path) -> None:
    config = _kubeconfig(
        tmp_path / "kc", https.url, {"insecure-skip-tls-verify": True}, {"token": TOKEN}
    )
    assert await _allowed(config)


async def test_the_client_certificate_is_presented(
    mutual: KubeApiStandIn, pki: Pki, tmp_path: Path
) -> None:
    cluster = {"certificate-authority-data": _b64(pki.ca.cert), "tls-server-name": SERVER_NAME}
    with_cert = {
        "token": TOKEN,
        "client-certificate-data": _b64(pki.client.cert),
        "client-key-data": _b64(pki.client.key),
    }
    assert await _allowed(_kubeconfig(tmp_path / "with", mutual.url, cluster, with_cert))
    without = _kubeconfig(tmp_path / "without", mutual.url, cluster, {"token": TOKEN})
    with pytest.raises(AuthorizationUnavailable, match="cannot reach the Kubernetes API"):
        await _allowed(without)
    assert mutual.requests["sar"] == 1


# --- credentials that rotate ----------------------------------------------------------------------
# An exec credential plugin (as EKS, GKE and OIDC logins use): it prints the token in a file,
# already expired, so the kubernetes client runs it again whenever the token is asked for.
PLUGIN = """
import json, sys
token = open(sys.argv[1]).read().strip()
if not token:
    sys.exit("no token")
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": token, "expirationTimestamp": "2000-01-01T00:00:00Z"}}))
"""


def _exec_kubeconfig(tmp: Path, server: str, token_file: Path) -> str:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": ["-c", PLUGIN, str(token_file)],
            "interactiveMode": "Never",
        }
    }
    return _kubeconfig(tmp / "kc", server, {}, user)


async def _eventually(attempt: Callable[[], Awaitable[T | None]], what: str) -> T:
    """What `attempt` returns once it returns something: the configuration's token is read
    again about once a second, so a rotation shows within a few attempts."""
    deadline = time.monotonic() + 10
    while (value := await attempt()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(what)
        await asyncio.sleep(0.05)
    return value


async def test_a_rotated_credential_is_picked_up(kube_api: KubeApiStandIn, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    api = KubeApi.from_config(_exec_kubeconfig(tmp_path, kube_api.url, token_file), timeout=2.0)

    refusals: list[str] = []

    async def review() -> bool | None:
        try:
            return await api.subject_access_review("alice", ["payments-devs"], PODS_IN_PAYMENTS)
        except AuthorizationUnavailable as error:
            refusals.append(str(error))
            return None  # the old token, until the configuration is asked again

    try:
        assert await api.subject_access_review("alice", ["payments-devs"], PODS_IN_PAYMENTS)
        kube_api.token = "rotated-token"  # the API server now accepts only the new one
        token_file.write_text("rotated-token", encoding="utf-8")
        assert await _eventually(review, f"never sent the new token: {_bearers(kube_api)}")
    finally:
        await api.aclose()
    assert _bearers(kube_api)[0] == f"Bearer {TOKEN}"
    assert _bearers(kube_api)[-1] == "Bearer rotated-token"
    assert all("answered 401" in refusal for refusal in refusals), refusals
    assert not any(TOKEN in refusal for refusal in refusals)


def _bearers(standin: KubeApiStandIn) -> list[str]:
    return [headers.get("Authorization", "") for headers in standin.headers]


# --- kept-alive connections ---------------------------------------------------------------------
async def test_a_connection_the_server_dropped_is_replaced_not_an_outage(
    kube_api: KubeApiStandIn,
) -> None:
    """The API server restarts (or a load balancer drops an idle connection) between two
    reviews: the second goes out on a new connection instead of failing closed."""
    assert kube_api.kubeconfig is not None
    api = KubeApi.from_config(str(kube_api.kubeconfig), timeout=2.0)
    try:
        assert await api.subject_access_review("alice", ["payments-devs"], PODS_IN_PAYMENTS)
        kube_api.set_mode("down")  # closes the kept-alive connection
        kube_api.set_mode("ok")  # listening again, on the same port
        assert await api.subject_access_review("alice", ["payments-devs"], PODS_IN_PAYMENTS)
    finally:
        await api.aclose()
    assert kube_api.requests["sar"] == 2
