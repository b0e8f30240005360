"""A day across hosts, as the topology says it: the channels come from the topology
alone (the same code and commands for one host and for three), and a multi-host file
that cannot work is refused naming the key and what was expected."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from deploy.day import JobError, _hosts_of, write_transport
from deploy.topology import load_topology
from sequencer.config import ConfigError, SequencerConfig, TransportConfig

HOSTS = Path(__file__).resolve().parents[2] / "deploy" / "configs" / "hosts.toml"


def test_one_host_is_shared_memory_and_three_are_udp_by_the_topology_alone(
        tmp_path: Path) -> None:
    one, three = load_topology(), load_topology(HOSTS)
    (tmp_path / "config").mkdir()
    # One host: nothing to say, every channel keeps its IPC default.
    cfg = tomllib.loads(write_transport(tmp_path, one).read_text())
    assert cfg == {"sequencer": {"transport": {}}}
    assert TransportConfig.model_validate(cfg["sequencer"]["transport"]).output_channel == (
        "aeron:ipc")
    # Three hosts: the same writer, UDP to and from the sequencer's host.
    cfg = tomllib.loads(write_transport(tmp_path, three).read_text())
    t = TransportConfig.model_validate(cfg["sequencer"]["transport"])
    core = str(three.host("core").address)
    assert t.input_channel.startswith(f"aeron:udp?endpoint={core}:40100")
    assert f"control={core}:40101" in t.output_channel
    assert "control-mode=dynamic" in t.output_channel and "fc=min" in t.output_channel
    # Subscribers name the sequencer's control address and no address of their own, so
    # one stream.json serves every host.
    assert t.output_sub_channel.startswith("aeron:udp?endpoint=0.0.0.0:40105|")
    assert f"control={core}:40101" in t.output_sub_channel
    assert f"control={core}:40102|" in t.notice_sub_channel
    assert t.notice_sub_channel.startswith("aeron:udp?endpoint=0.0.0.0:40106|")
    # On the sequencer's host, followers read its publication in shared memory.
    assert t.output_local_channel == "aeron-spy:" + t.output_channel
    assert t.replay_channel == f"aeron:udp?endpoint={core}:40103"
    assert t.replay_reply_port == 40104 and t.journal_host == "core"
    # Every process of the shipped day is placed, and the commands are the one-host ones
    # (plus the drivers of each host, the journal server and the sequencer's config).
    placed = {n for h in three.hosts for n in three.on_host(h.name)}
    assert placed == set(three.names)
    for name in one.names:
        if name not in ("driver", "sequencer"):
            assert one.process(name).command == three.process(name).command, name


def test_multicast_is_one_key_away(tmp_path: Path) -> None:
    text = HOSTS.read_text().replace('output = "mdc"', 'output = "multicast"')
    (tmp_path / "t.toml").write_text(text)
    t = TransportConfig.model_validate(load_topology(tmp_path / "t.toml").transport())
    assert t.output_channel.startswith("aeron:udp?endpoint=239.255.77.1:40101|ttl=8")
    assert t.output_sub_channel.startswith("aeron:udp?endpoint=239.255.77.1:40101")


def test_the_transport_does_not_change_the_days_system_start() -> None:
    # The digest in SystemStart: a day on one host and across hosts carry the same.
    three = load_topology(HOSTS).transport()
    a = SequencerConfig()
    b = SequencerConfig(transport=TransportConfig.model_validate(three), driver="external")
    assert a.digest() == b.digest()
    assert a.digest() != SequencerConfig(clock_tick_ms=50).digest()


def test_a_process_knows_its_host_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    t = TransportConfig.model_validate(load_topology(HOSTS).transport())
    t.write(tmp_path)
    monkeypatch.delenv("TAPE_HOST", raising=False)
    monkeypatch.delenv("TAPE_AERON_DIR", raising=False)
    assert not TransportConfig.for_day(tmp_path).remote_journal()  # unplaced: local
    monkeypatch.setenv("TAPE_HOST", "core")
    here = TransportConfig.for_day(tmp_path)
    assert not here.remote_journal() and here.output_subscription.startswith("aeron-spy:")
    monkeypatch.setenv("TAPE_HOST", "trading")
    monkeypatch.setenv("TAPE_AERON_DIR", "/dev/shm/tape-x-trading")
    here = TransportConfig.for_day(tmp_path)
    assert here.remote_journal() and here.aeron_dir == "/dev/shm/tape-x-trading"
    assert here.output_subscription == here.output_sub_channel
    assert here.notice_subscription == here.notice_sub_channel


def _bad(tmp_path: Path, old: str, new: str, count: int = 1) -> str:
    text = HOSTS.read_text()
    assert old in text
    (tmp_path / "bad.toml").write_text(text.replace(old, new, count))
    with pytest.raises(ConfigError) as e:
        load_topology(tmp_path / "bad.toml")
    return str(e.value)


def test_bad_multi_host_files_are_refused_naming_the_key(tmp_path: Path) -> None:
    msg = _bad(tmp_path, 'host = "trading"\n', "", 1)
    assert "key 'process." in msg and ".host'" in msg and "core, trading, edge" in msg
    msg = _bad(tmp_path, 'role = "app"\nhost = "trading"', 'role = "app"\nhost = "tradin"')
    assert "one of the [[host]] names" in msg and "'tradin'" in msg
    msg = _bad(tmp_path, 'role = "journal_server"\nhost = "core"',
               'role = "journal_server"\nhost = "edge"')
    assert "the sequencer's host 'core'" in msg
    msg = _bad(tmp_path, 'address = "10.77.0.2"', 'address = "10.77.0.999"')
    assert "key 'host.1.address'" in msg
    msg = _bad(tmp_path, 'name = "edge"\naddress', 'name = "core"\naddress')
    assert "key 'host.2.name'" in msg and "host.0's name already" in msg
    msg = _bad(tmp_path, 'output = "mdc"', 'output = "broadcast"')
    assert "key 'network.output'" in msg
    msg = _bad(tmp_path, 'name = "driver_edge"\nrole = "media_driver"',
               'name = "driver_edge"\nrole = "monitor"')
    assert "a media driver (role 'media_driver') on host 'edge'" in msg


def test_a_single_host_file_may_not_name_hosts(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "deploy/configs/day.toml").read_text()
    (tmp_path / "t.toml").write_text(text.replace('role = "app"', 'role = "app"\nhost = "x"',
                                                  1))
    with pytest.raises(ConfigError, match="this topology declares no"):
        load_topology(tmp_path / "t.toml")


def test_the_day_jobs_want_a_host_on_a_multi_host_day_and_only_then() -> None:
    three, one = load_topology(HOSTS), load_topology()
    with pytest.raises(JobError, match=r"runs across hosts \(core, trading, edge\)") as e:
        _hosts_of(three, "", "start")
    assert e.value.code == 2
    with pytest.raises(JobError, match="no host 'mars'"):
        _hosts_of(three, "mars", "start")
    with pytest.raises(JobError, match="declares no hosts"):
        _hosts_of(one, "core", "stop")
    assert _hosts_of(three, "edge", "start") == "edge"
    assert _hosts_of(one, "", "start") == ""


def test_systemd_units_per_host(tmp_path: Path) -> None:
    from deploy.units import render_units

    three = load_topology(HOSTS)
    units = render_units(three, day_root=Path("/srv/days"), user="tape",
                         python=Path("/usr/bin/python3"), host="trading")
    assert sorted(units) == ["tape-algo@.service", "tape-day@.target",
                             "tape-driver_trading@.service", "tape-oms@.service"]
    oms = units["tape-oms@.service"]
    # A unit names units of its own host only: the sequencer on core is waited for by
    # the OMS itself, not by systemd.
    assert "Requires=tape-driver_trading@%i.service" in oms
    assert "sequencer" not in oms.split("[Service]")[0]
    assert 'Environment="TAPE_HOST=trading"' in oms
    with pytest.raises(ValueError, match="name one with --host"):
        render_units(three, day_root=Path("/srv/days"), user="tape",
                     python=Path("/usr/bin/python3"))
