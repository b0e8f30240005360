"""FIX gateway configuration: one TOML file, from which the QuickFIX settings are made.

People edit `fix.toml` (`deploy/configs/fix.toml` is the shipped one); QuickFIX
reads its own ini-style settings, which `quickfix_settings` generates into the
day folder (`DAY/fix/client.cfg`, `DAY/fix/venue.cfg`) so ops can read exactly
what the sessions ran with. A bad file is refused with the file, the key and
what was expected, like every config in Tape.

The client gateway accepts one session per client (FIX 4.2 or 4.4, its own
CompID and port, optional TLS); a session marked `drop_copy` receives a copy
of every fill for clearing and sends no orders. The venue gateway initiates
one session per destination of the ref data (`destinations.csv` names them).
Message stores and logs live under the day folder, so sequence numbers and
resends survive a restart of the gateway within the day.
"""

# determinism: edge module, reads the gateways' config file

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sequencer.config import read_toml, validate

FixVersion = Literal["4.2", "4.4"]
BEGIN_STRING: dict[str, str] = {"4.2": "FIX.4.2", "4.4": "FIX.4.4"}


def data_dictionary(version: str, directory: str = "") -> Path:
    """QuickFIX's data dictionary for a FIX version (installed with the quickfix package
    under the venv's `share/quickfix/`, unless `directory` names another place)."""
    name = f"FIX{version.replace('.', '')}.xml"
    if directory:
        return Path(directory) / name
    import sys

    return Path(sys.prefix) / "share" / "quickfix" / name


class Tls(BaseModel):
    """Certificate, key and CA files (PEM). Relative paths are from the config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert: str
    key: str
    ca: str
    verify_client: bool = True  # ask clients for a certificate signed by `ca`


class ClientSession(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client: str = Field(min_length=1)  # the OMS's client name (clients.csv)
    comp_id: str = Field(min_length=1)  # the client's SenderCompID, our TargetCompID
    fix_version: FixVersion = "4.4"
    port: int = Field(ge=1, le=65535)
    tls: bool = False
    drop_copy: bool = False  # receives copies of fills, sends no orders
    # FIX 4.2 has no LastLiquidityInd (851): a strict engine refuses it. True for a 4.2
    # client whose engine takes it as a user field (4.4 sessions always get it).
    liquidity_on_42: bool = False


class ClientGateway(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sender_comp_id: str = "TAPE"
    host: str = "127.0.0.1"
    heartbeat_s: int = Field(default=30, ge=1, le=3600)
    data_dictionary_dir: str = ""
    tls: Tls | None = None
    sessions: list[ClientSession] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> ClientGateway:
        seen: dict[tuple[str, str], int] = {}
        for i, s in enumerate(self.sessions):
            key = (s.fix_version, s.comp_id)
            if key in seen:
                raise ValueError(f"sessions {seen[key]} and {i} both use FIX {s.fix_version} "
                                 f"CompID {s.comp_id!r}")
            seen[key] = i
            if s.tls and self.tls is None:
                raise ValueError(f"session {i} ({s.comp_id}) asks for TLS and the gateway "
                                 "has no [client_gateway.tls] table")
        ports: dict[int, bool] = {}
        for s in self.sessions:
            if ports.setdefault(s.port, s.tls) != s.tls:
                raise ValueError(f"port {s.port} is used by TLS and plain sessions alike")
        return self


class VenueSession(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    destination: str = Field(min_length=1)  # a destination of the ref data
    venue: str = Field(min_length=1)  # the venue it reaches (as destinations.csv says)
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    target_comp_id: str = Field(min_length=1)
    fix_version: FixVersion = "4.2"


class VenueGateway(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sender_comp_id: str = "TAPE"
    heartbeat_s: int = Field(default=30, ge=1, le=3600)
    reconnect_s: int = Field(default=2, ge=1, le=600)
    data_dictionary_dir: str = ""
    sessions: list[VenueSession] = Field(default_factory=list)


class FixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_gateway: ClientGateway = Field(default_factory=ClientGateway)
    venue_gateway: VenueGateway = Field(default_factory=VenueGateway)


def default_config_path() -> Path:
    return Path(__file__).resolve().parent.parent / "deploy" / "configs" / "fix.toml"


def load_fix_config(path: Path | None = None) -> tuple[FixConfig, Path]:
    """The gateways' config and the file it came from (relative TLS paths resolve
    against its folder)."""
    path = Path(path) if path is not None else default_config_path()
    return validate(FixConfig, read_toml(path), path), path


def _ini(sections: list[tuple[str, dict[str, str]]]) -> str:
    out: list[str] = []
    for name, kv in sections:
        out.append(f"[{name}]")
        out += [f"{k}={v}" for k, v in kv.items()]
        out.append("")
    return "\n".join(out)


def _common(day: Path, side: str, heartbeat_s: int) -> dict[str, str]:
    return {
        "FileStorePath": str(day / "fix" / side / "store"),
        "FileLogPath": str(day / "fix" / side / "log"),
        # A day's sessions run all day: the day folder (a new store each day) is what
        # resets sequence numbers, not a session schedule.
        "StartTime": "00:00:00",
        "EndTime": "00:00:00",
        "HeartBtInt": str(heartbeat_s),
        "UseDataDictionary": "Y",
        # Our own tags (5700 LocateBroker, the algo parameters 7001+) are user-defined
        # fields: allowed, and checked by the gateway's translation instead.
        "ValidateUserDefinedFields": "N",
        "ResetOnLogon": "N",
        "ResetOnLogout": "N",
        "ResetOnDisconnect": "N",
        "PersistMessages": "Y",
        # TCP_NODELAY: without it Nagle holds a report back until the peer's next
        # message acknowledges the last one (half a millisecond at 1,000 orders/s).
        "SocketNodelay": "Y",
    }


def tls_files(tls: Tls, config_dir: Path | None = None) -> tuple[Path, Path, Path]:
    """The certificate, key and CA files, relative paths taken from the config's folder."""
    base = config_dir or Path(".")
    return ((base / tls.cert).resolve(), (base / tls.key).resolve(),
            (base / tls.ca).resolve())


def client_settings(cfg: ClientGateway, day: Path, *, tls: bool,
                    config_dir: Path | None = None,
                    inner_ports: Mapping[int, int] | None = None) -> str:
    """QuickFIX acceptor settings for the sessions with (or without) TLS: TLS is a
    property of the whole QuickFIX acceptor, so the gateway runs one of each as needed.

    `inner_ports` (TLS port -> loopback port) is for TLS terminated by the gateway
    (`fix_gateways.tls`: the PyPI build of QuickFIX has no SSL): QuickFIX then
    listens in plain on those loopback ports, behind the gateway's TLS relay. The
    TLS files are written either way (QuickFIX's own SSL keys)."""
    default = {"ConnectionType": "acceptor", "SocketAcceptHost": cfg.host,
               **_common(day, "client", cfg.heartbeat_s)}
    head = ""
    if tls:
        assert cfg.tls is not None
        cert, key, ca = tls_files(cfg.tls, config_dir)
        default |= {"ServerCertificateFile": str(cert),
                    "ServerCertificateKeyFile": str(key),
                    "CertificationAuthoritiesFile": str(ca),
                    "CertificateVerifyLevel": "1" if cfg.tls.verify_client else "0"}
        if inner_ports is not None:
            default["SocketAcceptHost"] = "127.0.0.1"
            head = ("# TLS is terminated by the client gateway (fix_gateways/tls.py) on "
                    f"{cfg.host}, ports " + ", ".join(
                        f"{outer} -> {inner}" for outer, inner in sorted(inner_ports.items()))
                    + ": QuickFIX listens in plain on the loopback ports behind it.\n")
    sections = [("DEFAULT", default)]
    for s in cfg.sessions:
        if s.tls != tls:
            continue
        port = inner_ports.get(s.port, s.port) if tls and inner_ports is not None else s.port
        sections.append(("SESSION", {
            "BeginString": BEGIN_STRING[s.fix_version],
            "SenderCompID": cfg.sender_comp_id,
            "TargetCompID": s.comp_id,
            "SocketAcceptPort": str(port),
            "DataDictionary": str(data_dictionary(s.fix_version, cfg.data_dictionary_dir)),
        }))
    return head + _ini(sections)


def venue_settings(cfg: VenueGateway, day: Path) -> str:
    """QuickFIX initiator settings: one session per destination; QuickFIX reconnects
    a lost session every `reconnect_s`."""
    default = {"ConnectionType": "initiator", "ReconnectInterval": str(cfg.reconnect_s),
               **_common(day, "venue", cfg.heartbeat_s)}
    sections = [("DEFAULT", default)]
    for s in cfg.sessions:
        sections.append(("SESSION", {
            "BeginString": BEGIN_STRING[s.fix_version],
            "SenderCompID": cfg.sender_comp_id,
            "TargetCompID": s.target_comp_id,
            "SocketConnectHost": s.host,
            "SocketConnectPort": str(s.port),
            "DataDictionary": str(data_dictionary(s.fix_version, cfg.data_dictionary_dir)),
        }))
    return _ini(sections)
