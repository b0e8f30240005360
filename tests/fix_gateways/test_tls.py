"""A client session over TLS, all real: the client gateway takes its certificate,
key and CA from fix.toml's `[client_gateway.tls]` table; a client's QuickFIX
session logs on over TLS with a certificate of that CA and gets its order
acknowledged and filled. Plain FIX on the TLS port, TLS without a client
certificate or with one of another CA (the gateway verifies clients), and a
client that does not trust the gateway's certificate never log on.

The PyPI build of QuickFIX has no SSL, so TLS is terminated by the gateway's
relay (`fix_gateways.tls`) in front of a plain QuickFIX acceptor, and the test's
client talks TLS through the same relay, client side. The CAs and certificates
are made here with `cryptography` (RSA keys, which QuickFIX's own SSL would
take too)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sequencer.messages.executions import ClientSessionStatus
from tests.conftest import Proc, Stack
from tests.fix_gateways.day import ER, Day, got, pick, send, stream
from tests.fix_gateways.qf import free_port
from tests.sequencer.runtime.conftest import wait_for

pytestmark = pytest.mark.slow


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return path


def _cert(subject: str, key: rsa.RSAPrivateKey, issuer: x509.Certificate | None,
          issuer_key: rsa.RSAPrivateKey, *, ca: bool = False,
          usage: x509.ObjectIdentifier | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer.subject if issuer is not None else name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(hours=1))
         .not_valid_after(now + dt.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if usage is not None:
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def make_pki(where: Path) -> dict[str, Path]:
    """A CA, the gateway's certificate and key, and a client's, as PEM files."""
    where.mkdir(parents=True, exist_ok=True)
    ca_key, gw_key, client_key = _key(), _key(), _key()
    ca = _cert("Tape test CA", ca_key, None, ca_key, ca=True)
    gw = _cert("127.0.0.1", gw_key, ca, ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = _cert("DEMO", client_key, ca, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    out = {"ca": where / "ca.pem", "cert": where / "gateway.pem",
           "client_cert": where / "client.pem"}
    for cert, path in ((ca, out["ca"]), (gw, out["cert"]), (client, out["client_cert"])):
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out["key"] = _write_key(gw_key, where / "gateway.key")
    out["client_key"] = _write_key(client_key, where / "client.key")
    return out


def tls_config(port: int) -> str:
    """The TLS table (paths relative to fix.toml, as ops would write them) and a TLS
    session for the client DEMO."""
    return f"""
[client_gateway.tls]
cert = "pki/gateway.pem"
key = "pki/gateway.key"
ca = "pki/ca.pem"
verify_client = true
[[client_gateway.sessions]]
client = "DEMO"
comp_id = "DEMO"
fix_version = "4.4"
port = {port}
tls = true
"""


def _events(p: Proc) -> str:
    """What a client's QuickFIX event log says."""
    root = Path(p.argv[p.argv.index("--root") + 1])
    return "\n".join(f.read_text(errors="replace")
                     for f in sorted((root / "log").glob("*event*")))


def _printed(p: Proc) -> list[dict[str, object]]:
    """Everything the worker has printed so far."""
    while not p.messages.empty():
        p.history.append(p.messages.get_nowait())
    return list(p.history)


def test_a_tls_session_logs_on_and_gets_its_order_acknowledged(stack: Stack,
                                                                tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    rogue = make_pki(tmp_path / "rogue")  # another CA, and a client certificate of it
    tls_port = free_port()
    d = Day(stack, tmp_path, tls_config(tls_port))
    d.start()
    generated = (stack.day / "fix" / "client-tls.cfg").read_text()
    for key, path in (("ServerCertificateFile", pki["cert"]),
                      ("ServerCertificateKeyFile", pki["key"]),
                      ("CertificationAuthoritiesFile", pki["ca"])):
        assert f"{key}={path.resolve()}" in generated
    assert "CertificateVerifyLevel=1" in generated
    # QuickFIX listens in plain behind the gateway's TLS relay, not on the TLS port.
    assert f"SocketAcceptPort={tls_port}\n" not in generated
    assert "SocketAcceptHost=127.0.0.1" in generated

    # Refused at the TLS handshake, before any FIX: plain FIX on the TLS port; TLS
    # without a client certificate; a client certificate of another CA; a client that
    # does not trust the gateway's certificate. All use the CompID DEMO, whose session
    # stays free until each has been cut off twice (they retry every second).
    good = {"ca": pki["ca"], "cert": pki["client_cert"], "key": pki["client_key"]}
    refused = [
        d.client("DEMO", "4.4", tls_port, name="DEMO-plain", logon=False),
        d.client("DEMO", "4.4", tls_port, tls={"ca": pki["ca"]}, name="DEMO-nocert",
                 logon=False),
        d.client("DEMO", "4.4", tls_port, name="DEMO-rogue", logon=False, tls={
            "ca": pki["ca"], "cert": rogue["client_cert"], "key": rogue["client_key"]}),
        d.client("DEMO", "4.4", tls_port, name="DEMO-distrust", logon=False,
                 tls={**good, "ca": rogue["ca"]}),
    ]
    def cut_off_twice() -> bool:
        for p in refused:
            assert not any("logon" in m for m in _printed(p)), f"{p.name} logged on"
        return all(_events(p).count("Disconnecting") >= 2 for p in refused)

    wait_for(cut_off_twice, "every refused client to be cut off twice", 30,
             lambda: "\n".join(f"{p.name}: {_events(p)}" for p in refused))
    for p in refused:
        events = _events(p)
        assert "Initiated logon request" in events and "Received logon" not in events, events
        assert not any("logon" in m for m in _printed(p)), p.history
        assert p.alive(), p.describe()

    demo = d.client("DEMO", "4.4", tls_port, tls=good, name="DEMO-tls")
    send(demo, **{"35": "D", "11": "T1", "55": "IBM", "54": "1", "38": "100", "40": "2",
                  "44": "170", "59": "0", "60": "20131008-13:30:00.000", "7000": "DMA",
                  "7010": "ARCX"})
    new = got(demo)
    assert pick(new, *ER) == ("8", "0", "0", "T1", "", "100", "0", "100", "", "", "0")
    assert (new["49"], new["56"]) == ("TAPE", "DEMO")
    order = d.sim.expect("order")
    assert (order["order"], order["venue"], order["qty"]) == ("20131008-1.1", "ARCX", 100)
    d.venue(op="fill", venue="ARCX", cl_ord_id="20131008-1.1", qty=100, px=1_700_000)
    fill = got(demo)
    assert pick(fill, "150", "39", "11", "32", "31") == ("F", "2", "T1", "100", "170")

    for p in refused:
        assert not any("logon" in m for m in _printed(p)), p.history
    ups = [m for _src, _seq, m in stream(stack.day) if isinstance(m, ClientSessionStatus)
           and m.status == "up" and m.client == "DEMO"]
    assert len(ups) == 1, ups
    assert d.client_gw.alive(), d.client_gw.describe()
