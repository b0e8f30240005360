"""The gateways' TOML config: validation names file and key; QuickFIX settings made
from it carry the day folder's store, the data dictionaries and TLS files."""

from __future__ import annotations

from pathlib import Path

import pytest

from fix_gateways.config import (
    client_settings,
    data_dictionary,
    default_config_path,
    load_fix_config,
    venue_settings,
)
from sequencer.config import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "fix.toml"
    p.write_text(text)
    return p


def test_the_shipped_config_loads_and_names_real_dictionaries() -> None:
    cfg, path = load_fix_config()
    assert path == default_config_path()
    clients = {s.client: s for s in cfg.client_gateway.sessions}
    assert clients["ALPHA"].fix_version == "4.4" and clients["BETA"].fix_version == "4.2"
    assert clients["*"].drop_copy
    assert {s.destination for s in cfg.venue_gateway.sessions} >= {"DMA-XNYS", "DMA-ARCX"}
    for v in ("4.2", "4.4"):
        assert data_dictionary(v).is_file()


def test_a_bad_value_names_the_file_and_the_key(tmp_path: Path) -> None:
    p = _write(tmp_path, '[client_gateway]\n[[client_gateway.sessions]]\nclient = "A"\n'
                         'comp_id = "A"\nfix_version = "4.3"\nport = 9000\n')
    with pytest.raises(ConfigError) as e:
        load_fix_config(p)
    text = str(e.value)
    assert str(p) in text and "client_gateway.sessions.0.fix_version" in text and "'4.3'" in text


def test_an_unknown_key_and_a_port_out_of_range_are_refused(tmp_path: Path) -> None:
    p = _write(tmp_path, '[venue_gateway]\nreconect_s = 3\n[[venue_gateway.sessions]]\n'
                         'destination = "D"\nvenue = "V"\nport = 70000\ntarget_comp_id = "V"\n')
    with pytest.raises(ConfigError) as e:
        load_fix_config(p)
    assert "venue_gateway.reconect_s" in str(e.value)
    assert "venue_gateway.sessions.0.port" in str(e.value)


def test_tls_sessions_need_the_tls_table_and_their_own_ports(tmp_path: Path) -> None:
    p = _write(tmp_path, '[[client_gateway.sessions]]\nclient = "A"\ncomp_id = "A"\n'
                         'port = 9000\ntls = true\n')
    with pytest.raises(ConfigError, match="asks for TLS"):
        load_fix_config(p)
    p = _write(tmp_path, '[client_gateway.tls]\ncert = "c.pem"\nkey = "k.pem"\nca = "ca.pem"\n'
                         '[[client_gateway.sessions]]\nclient = "A"\ncomp_id = "A"\nport = 9000\n'
                         'tls = true\n[[client_gateway.sessions]]\nclient = "B"\ncomp_id = "B"\n'
                         'port = 9000\n')
    with pytest.raises(ConfigError, match="port 9000 is used by TLS and plain"):
        load_fix_config(p)


def test_not_toml_is_refused_with_the_file(tmp_path: Path) -> None:
    p = _write(tmp_path, "[client_gateway\n")
    with pytest.raises(ConfigError, match="expected valid TOML"):
        load_fix_config(p)
    with pytest.raises(ConfigError, match="no such config file"):
        load_fix_config(tmp_path / "missing.toml")


def test_generated_settings_split_plain_and_tls_and_keep_stores_in_the_day(
        tmp_path: Path) -> None:
    p = _write(tmp_path, '[client_gateway.tls]\ncert = "c.pem"\nkey = "k.pem"\nca = "ca.pem"\n'
                         '[[client_gateway.sessions]]\nclient = "A"\ncomp_id = "A"\nport = 9000\n'
                         'tls = true\n[[client_gateway.sessions]]\nclient = "B"\ncomp_id = "B"\n'
                         'fix_version = "4.2"\nport = 9001\n'
                         '[[venue_gateway.sessions]]\ndestination = "DMA-X"\nvenue = "X"\n'
                         'port = 9100\ntarget_comp_id = "X"\n')
    cfg, path = load_fix_config(p)
    day = tmp_path / "day"
    plain = client_settings(cfg.client_gateway, day, tls=False, config_dir=path.parent)
    tls = client_settings(cfg.client_gateway, day, tls=True, config_dir=path.parent)
    assert "TargetCompID=B" in plain and "TargetCompID=A" not in plain
    assert "BeginString=FIX.4.2" in plain and "ServerCertificateFile" not in plain
    assert "TargetCompID=A" in tls and f"ServerCertificateFile={tmp_path / 'c.pem'}" in tls
    assert f"CertificationAuthoritiesFile={tmp_path / 'ca.pem'}" in tls
    assert f"FileStorePath={day / 'fix' / 'client' / 'store'}" in plain
    venue = venue_settings(cfg.venue_gateway, day)
    assert "ConnectionType=initiator" in venue and "SocketConnectPort=9100" in venue
    assert "ReconnectInterval=2" in venue and "BeginString=FIX.4.2" in venue
