"""TLS for FIX sessions, terminated beside QuickFIX.

The quickfix 1.16 package on PyPI is compiled without OpenSSL: its
SSLSocketAcceptor and SSLSocketInitiator refuse to start ("HAVE_SSL not
enabled"). So TLS is done here, with Python's `ssl`, by a relay in front of a
plain QuickFIX engine on a loopback port:

- the client gateway listens with TLS on each TLS port of `fix.toml`
  (certificate, key and CA from `[client_gateway.tls]`; with `verify_client`
  a client must present a certificate signed by that CA) and relays each
  connection, once its handshake is done, to its plain QuickFIX acceptor on
  127.0.0.1;
- an initiator (a test's client) can do the reverse: QuickFIX connects to a
  local plain port and the relay opens the TLS connection onward, checking the
  server's certificate against the CA.

A connection that fails its handshake (plain FIX on a TLS port, no or a wrong
client certificate) is closed without reaching QuickFIX. One asyncio loop on
a daemon thread serves every connection of a relay. QuickFIX's own plain port
is bound to 127.0.0.1 only: a process on the gateway's host could still reach
it without TLS, so that host must be trusted (as its key file already is).
"""

# determinism: edge module, sockets and a thread of its own

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("tls")

HANDSHAKE_TIMEOUT_S = 10.0


def server_context(cert: Path, key: Path, ca: Path, verify_client: bool) -> ssl.SSLContext:
    """A server's TLS context (TLS 1.2 or later). `verify_client`: a client must show a
    certificate signed by `ca`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    ctx.verify_mode = ssl.CERT_REQUIRED if verify_client else ssl.CERT_NONE
    return ctx


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None,
                   check_hostname: bool = False) -> ssl.SSLContext:
    """A client's TLS context: the server's certificate must be signed by `ca` (its name
    is checked too with `check_hostname`); `cert` and `key` are the client's own."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = check_hostname
    ctx.load_verify_locations(str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
    return ctx


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TlsRelay:
    """Relays every connection to `listen` on to `target`, with TLS on the listening
    side (`server_ctx`) or on the onward side (`client_ctx`)."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], *,
                 server_ctx: ssl.SSLContext | None = None,
                 client_ctx: ssl.SSLContext | None = None, name: str = "") -> None:
        self.listen = listen
        self.target = target
        self.server_ctx = server_ctx
        self.client_ctx = client_ctx
        self.name = name or f"{listen[0]}:{listen[1]}"
        self.connections = 0  # handed on (past the handshake, on the listening side)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        """Listen (on a daemon thread); raises here if the port cannot be had."""
        threading.Thread(target=self._run, name=f"tls-{self.name}", daemon=True).start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._on_loop_error)
        try:
            server = loop.run_until_complete(asyncio.start_server(
                self._handle, self.listen[0], self.listen[1], ssl=self.server_ctx,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S if self.server_ctx else None))
        except Exception as e:  # handed to start()'s caller
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        with contextlib.suppress(Exception):
            loop.run_until_complete(server.serve_forever())

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # asyncio closes a connection whose handshake failed and says nothing of it (an
        # OSError); what reaches here is unexpected.
        log.warning("tls_relay_error", relay=self.name, message=context.get("message"),
                    error=repr(context.get("exception")))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.target[0], self.target[1], ssl=self.client_ctx,
                server_hostname=self.target[0] if self.client_ctx else None,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S if self.client_ctx else None)
        except (OSError, ssl.SSLError, TimeoutError) as e:
            log.info("tls_relay_connect_failed", relay=self.name, target=self.target,
                     error=str(e))
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream or an error, then close the other side (which ends the
    opposite pipe too)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError, ConnectionError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
