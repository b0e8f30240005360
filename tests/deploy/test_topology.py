"""The day's topology file: the shipped one loads and orders the day as it must start
and stop; bad files are refused naming the file, the key and what was expected; the
alert rules and the status-file health rule do what they say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

from deploy.topology import (
    DEFAULT_TOPOLOGY,
    PLACEHOLDERS,
    Topology,
    load_topology,
    status_file_health,
)
from sequencer.config import ConfigError
from sequencer.messages.control import Alert
from sequencer.messages.executions import ExecutionReport, VenueStatus

START = ["driver", "sequencer", "oms", "algo", "market_monitor", "ticker_plant", "venue_sim",
         "venue_gateway", "client_gateway", "db_writer", "watch"]


# ---------------------------------------------------------------- the shipped file


def test_the_shipped_topology_is_the_default_and_orders_the_day() -> None:
    topo = load_topology()
    assert Path(__file__).resolve().parents[2] / "deploy/configs/day.toml" == DEFAULT_TOPOLOGY
    assert topo == load_topology(DEFAULT_TOPOLOGY)
    assert topo.order() == START
    assert topo.reverse_order() == START[::-1]
    # Every process starts after all it depends on, and stops before them.
    for p in topo.processes:
        for dep in p.depends_on:
            assert topo.order().index(dep) < topo.order().index(p.name), (p.name, dep)
            assert topo.reverse_order().index(dep) > topo.reverse_order().index(p.name)


def test_the_shipped_processes_and_how_each_shows_it_is_up() -> None:
    topo = load_topology()
    roles = {p.name: p.role for p in topo.processes}
    assert roles == {
        "driver": "media_driver", "sequencer": "sequencer", "oms": "app", "algo": "app",
        "market_monitor": "app", "ticker_plant": "marketdata", "venue_sim": "venue_sim",
        "venue_gateway": "gateway", "client_gateway": "gateway", "db_writer": "db",
        "watch": "monitor"}
    health = {p.name: (p.health.kind, p.health.path) for p in topo.processes}
    assert health == {
        "driver": ("aeron_driver", None),
        "sequencer": ("status_file", "sequencer.status.json"),
        "oms": ("status_file", "apps/oms.status.json"),
        "algo": ("status_file", "apps/algo.status.json"),
        "market_monitor": ("status_file", "apps/market_monitor.status.json"),
        "ticker_plant": ("started", None),
        "venue_sim": ("ready_line", None),
        "venue_gateway": ("ready_line", None),
        "client_gateway": ("ready_line", None),
        "db_writer": ("status_file", "db/writer.status.json"),
        "watch": ("ready_line", None),
    }
    assert topo.process("oms").health.ready_when == {"caught_up": True}
    assert topo.process("sequencer").health.ready_when == {"state": "running"}
    assert topo.process("sequencer").health.stale_s == 5
    assert [p.name for p in topo.processes if p.optional] == ["venue_sim"]
    assert topo.process("driver").restart == "always"
    assert {p.restart for p in topo.processes if p.name != "driver"} == {"on-failure"}
    assert all(p.watchdog_s > 0 for p in topo.processes)


def test_a_sim_day_adds_the_venue_simulator_and_nothing_else_is_optional() -> None:
    topo = load_topology()
    assert topo.selected() == [n for n in START if n != "venue_sim"]
    assert topo.selected(["venue_sim"]) == START
    with pytest.raises(ValueError, match="'oms' is not optional"):
        topo.selected(["oms"])
    with pytest.raises(KeyError, match="no process 'nope'"):
        topo.selected(["nope"])


def test_argv_fills_the_placeholders() -> None:
    topo = load_topology()
    values = {"python": "/opt/tape/bin/python", "day": "/days/2013-10-08",
              "date": "2013-10-08", "aeron_dir": "/dev/shm/a", "config_dir": "/etc/tape",
              "time_mode": "sim", "speed": "fast", "subscribe": "AIG,IBM"}
    assert topo.argv("sequencer", **values) == [
        "/opt/tape/bin/python", "-m", "deploy", "sequencer", "run", "--day",
        "/days/2013-10-08", "--aeron-dir", "/dev/shm/a", "--driver", "external",
        "--session-date", "2013-10-08", "--time-mode", "sim"]
    assert topo.argv("ticker_plant", **values)[-5:] == [
        "--speed", "fast", "--subscribe", "AIG,IBM", "--resume"]
    assert topo.argv("client_gateway", **values) == [
        "/opt/tape/bin/python", "-m", "deploy", "gateway", "client", "--day",
        "/days/2013-10-08", "--config", "/etc/tape/fix.toml"]
    assert topo.argv("oms", python="py", day="D") == [
        "py", "-m", "deploy", "app", "run", "oms", "--day", "D"]
    with pytest.raises(ValueError, match=r"no value for placeholder \{day\}"):
        topo.argv("oms", python="py")
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) dya"):
        topo.argv("oms", python="py", day="D", dya="x")


def test_every_shipped_command_uses_only_known_placeholders_and_runs_tape() -> None:
    topo = load_topology()
    for p in topo.processes:
        assert p.command[:3] == ("{python}", "-m", "deploy"), p.name
        used = set(re.findall(r"\{(\w+)\}", " ".join(p.command)))
        assert used <= set(PLACEHOLDERS), p.name
        assert "{day}" in p.command or p.name == "driver"


# ---------------------------------------------------------------- alerts


def test_the_default_alert_rules() -> None:
    alerts = load_topology().alerts
    assert [(r.code, r.severity) for r in alerts.log] == [
        ("error_line", "error"), ("order_rejected", "warning")]
    assert [(r.code, r.message, r.where) for r in alerts.stream] == [
        ("order_rejected", "ExecutionReport", {"ord_status": "rejected"}),
        ("venue_down", "VenueStatus", {"status": "down"}),
        ("determinism", "Alert", {"code": "determinism"}),
        ("db_lag", "Alert", {"code": "db_lag"})]
    assert [(r.code, r.event) for r in alerts.process] == [("process_restart", "restart")]
    # A file without [alerts] gets the same defaults.
    bare = Topology.model_validate({"process": [_proc("a")]})
    assert bare.alerts == alerts


def test_the_alert_rules_match_what_they_say() -> None:
    alerts = load_topology().alerts
    err_line = json.dumps({"event": "boom", "level": "error", "timestamp": "t"})
    info_line = json.dumps({"event": "fine", "level": "info"})
    assert [r.code for r in alerts.on_log("oms", err_line)] == ["error_line"]
    assert alerts.on_log("oms", info_line) == []
    assert alerts.on_log("oms", "not json, level error") == []
    assert [r.code for r in alerts.on_log("client_gateway", "35=8 Order Rejected: x")] == [
        "order_rejected"]
    assert [r.code for r in alerts.on_message(
        VenueStatus(destination="ARCX-1", venue="ARCX", status="down"))] == ["venue_down"]
    assert alerts.on_message(VenueStatus(destination="ARCX-1", venue="ARCX", status="up")) == []
    assert [r.code for r in alerts.on_message(
        Alert(severity="warning", source="db_writer", text="behind", code="db_lag"))] == [
        "db_lag"]
    assert [r.code for r in alerts.on_message(
        Alert(severity="critical", source="runtime:oms", text="x", code="determinism"))] == [
        "determinism"]
    assert alerts.on_message(Alert(severity="info", source="s", text="t", code="db_up")) == []
    rejected = ExecutionReport(client="ALPHA", order_id="O1", cl_ord_id="C1", orig_cl_ord_id="",
                               exec_id="E1", exec_type="rejected", ord_status="rejected",
                               symbol="IBM", side="buy", order_qty=100, cum_qty=0, leaves_qty=0)
    new = msgspec.structs.replace(rejected, exec_type="new", ord_status="new")
    assert [r.code for r in alerts.on_message(rejected)] == ["order_rejected"]
    assert alerts.on_message(new) == []
    assert [r.code for r in alerts.on_process("oms", "restart")] == ["process_restart"]
    assert alerts.on_process("oms", "failed") == []


def test_log_rules_limited_to_processes(tmp_path: Path) -> None:
    path = _write(tmp_path, _procs_toml("a", "b") + """
[[alerts.log]]
code = "gap"
severity = "warning"
pattern = "gap of \\\\d+"
processes = ["b"]
""")
    alerts = load_topology(path).alerts
    assert [r.code for r in alerts.on_log("b", "a gap of 12 frames")] == ["gap"]
    assert alerts.on_log("a", "a gap of 12 frames") == []
    assert alerts.on_log("b", "a gap of frames") == []
    # Only the log rules were given: the stream and process rules keep their defaults.
    assert [r.code for r in alerts.stream][:2] == ["order_rejected", "venue_down"]


# ---------------------------------------------------------------- order


def test_ties_go_by_file_order(tmp_path: Path) -> None:
    # c depends on nothing but is listed last; a and b wait for d.
    path = _write(tmp_path, _procs_toml("a", "b", "d", "c", deps={"a": ["d"], "b": ["d"]}))
    topo = load_topology(path)
    assert topo.order() == ["d", "a", "b", "c"]
    assert topo.reverse_order() == ["c", "b", "a", "d"]


# ---------------------------------------------------------------- bad files


def _refused(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_topology(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: "), msg
    assert e.value.path == path
    return msg


def test_a_cycle_is_refused_naming_it(tmp_path: Path) -> None:
    msg = _refused(tmp_path, _procs_toml("x", "a", "b", "c",
                                         deps={"a": ["c"], "b": ["a"], "c": ["b", "x"]}))
    assert "key 'process.1.depends_on': expected no dependency cycle; found a -> c -> b -> a" \
        in msg, msg


def test_a_dependency_on_itself_is_refused(tmp_path: Path) -> None:
    msg = _refused(tmp_path, _procs_toml("a", deps={"a": ["a"]}))
    assert "key 'process.0.depends_on': expected another process; 'a' cannot depend on " \
           "itself" in msg, msg


def test_an_unknown_dependency_is_refused(tmp_path: Path) -> None:
    msg = _refused(tmp_path, _procs_toml("driver", "sequencer",
                                         deps={"sequencer": ["drivr"]}))
    assert ("key 'process.1.depends_on': expected a process of this topology "
            "(driver, sequencer); got unknown 'drivr'") in msg, msg


def test_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    text = _procs_toml("a").replace('"--day", "{day}"', '"--day", "{dya}"')
    msg = _refused(tmp_path, text)
    assert ("key 'process.0.command.4': expected a placeholder of {python}, {day}, {date}, "
            "{aeron_dir}, {config_dir}, {time_mode}, {speed}, {subscribe}; got {dya} in "
            "'{dya}'") in msg, msg


def test_unclosed_braces_and_format_specs_are_refused(tmp_path: Path) -> None:
    msg = _refused(tmp_path, _procs_toml("a").replace('"{day}"', '"{day"'))
    assert "key 'process.0.command.4': expected braces that close" in msg, msg
    msg = _refused(tmp_path, _procs_toml("a").replace('"{day}"', '"{day!r}"'))
    assert "key 'process.0.command.4': expected a bare placeholder" in msg, msg


def test_an_extra_key_is_refused(tmp_path: Path) -> None:
    msg = _refused(tmp_path, _procs_toml("a", "b").replace(
        'name = "b"', 'name = "b"\ncolour = "red"'))
    assert "key 'process.1.colour': Extra inputs are not permitted (got 'red')" in msg, msg
    msg = _refused(tmp_path, _procs_toml("a") + '\n[alerts]\nemail = "ops@example.com"\n')
    assert "key 'alerts.email': Extra inputs are not permitted" in msg, msg


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    msg = _refused(tmp_path, _procs_toml("a", "b", "a"))
    assert "key 'process.2.name': expected a name of its own; 'a' is process.0's name " \
           "already" in msg, msg


def test_bad_values_are_refused_by_key(tmp_path: Path) -> None:
    msg = _refused(tmp_path, _procs_toml("a").replace('restart = "always"',
                                                      'restart = "sometimes"'))
    assert "key 'process.0.restart': Input should be 'always', 'on-failure' or 'never' " \
           "(got 'sometimes')" in msg, msg
    msg = _refused(tmp_path, _procs_toml("Bad Name"))
    assert "key 'process.0.name': String should match pattern" in msg, msg
    msg = _refused(tmp_path, _procs_toml("a").replace('kind = "started"', 'kind = "status_file"'))
    assert "key 'process.0.health': kind 'status_file' needs a path" in msg, msg
    msg = _refused(tmp_path, _procs_toml("a").replace(
        'kind = "started"', 'kind = "status_file", path = "../other/x.json"'))
    assert "path must stay inside the day folder" in msg, msg
    msg = _refused(tmp_path, _procs_toml("a", "b", deps={"b": ["a"]}).replace(
        'name = "b"', 'name = "b"\nbinds_to = ["c"]'))
    assert "key 'process.1.binds_to': expected names from depends_on (a); got 'c'" in msg, msg
    msg = _refused(tmp_path, "description = 'nothing'\n")
    assert "key 'process': Field required" in msg, msg
    msg = _refused(tmp_path, "process = []\n")
    assert "key 'process': expected at least one [[process]]" in msg, msg


def test_bad_alert_rules_are_refused_by_key(tmp_path: Path) -> None:
    base = _procs_toml("a")
    msg = _refused(tmp_path, base + """
[[alerts.stream]]
code = "x"
severity = "error"
message = "VenueStatuss"
""")
    assert "key 'alerts.stream.0': unknown message type 'VenueStatuss'" in msg, msg
    msg = _refused(tmp_path, base + """
[[alerts.stream]]
code = "x"
severity = "error"
message = "VenueStatus"
where = { state = "down" }
""")
    assert "key 'alerts.stream.0': VenueStatus has no field 'state'; expected one of " \
           "destination, venue, status, reason" in msg, msg
    msg = _refused(tmp_path, base + '\n[[alerts.log]]\ncode = "x"\nseverity = "error"\n'
                   'pattern = "(unclosed"\n')
    assert "key 'alerts.log.0.pattern': expected a regular expression" in msg, msg
    msg = _refused(tmp_path, base + '\n[[alerts.log]]\ncode = "x"\nseverity = "loud"\n'
                   'pattern = "x"\n')
    assert "key 'alerts.log.0.severity': Input should be" in msg, msg
    msg = _refused(tmp_path, base + '\n[[alerts.process]]\ncode = "x"\nseverity = "error"\n'
                   'event = "restart"\nprocesses = ["zz"]\n')
    assert "key 'alerts.process.0.processes': expected a process of this topology (a); got " \
           "unknown 'zz'" in msg, msg


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_topology(tmp_path / "missing.toml")
    msg = _refused(tmp_path, "[[process]\n")
    assert "expected valid TOML" in msg


# ---------------------------------------------------------------- health


def test_status_file_health(tmp_path: Path) -> None:
    health = load_topology().process("oms").health
    now = 1_700_000_000 * 10**9
    assert status_file_health(health, tmp_path, now) == (False, "no apps/oms.status.json yet")
    (tmp_path / "apps").mkdir()
    status = tmp_path / "apps" / "oms.status.json"
    status.write_text(json.dumps({"caught_up": False, "updated_wall_ns": now}))
    assert status_file_health(health, tmp_path, now) == (
        False, "apps/oms.status.json: caught_up is False, not True")
    status.write_text(json.dumps({"caught_up": True, "updated_wall_ns": now - 3 * 10**9}))
    assert status_file_health(health, tmp_path, now) == (True, "ok")
    assert status_file_health(health, tmp_path, now + 8 * 10**9) == (
        False, "apps/oms.status.json: last updated 11.0 s ago (> 10.0 s)")
    status.write_text("{half")
    ok, why = status_file_health(health, tmp_path, now)
    assert not ok and why.startswith("apps/oms.status.json unreadable")
    with pytest.raises(ValueError, match="not a status file rule"):
        status_file_health(load_topology().process("driver").health, tmp_path, now)


# ---------------------------------------------------------------- helpers


def _proc(name: str, deps: list[str] | None = None) -> dict[str, object]:
    return {"name": name, "role": "app", "command": ["{python}", "-m", "deploy"],
            "depends_on": deps or [], "health": {"kind": "started"}}


def _procs_toml(*names: str, deps: dict[str, list[str]] | None = None) -> str:
    out = ['description = "test"']
    for n in names:
        d = ", ".join(f'"{x}"' for x in (deps or {}).get(n, []))
        out.append(f'''
[[process]]
name = "{n}"
role = "app"
command = ["{{python}}", "-m", "deploy", "--day", "{{day}}"]
depends_on = [{d}]
restart = "always"
health = {{ kind = "started" }}''')
    return "\n".join(out) + "\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "day.toml"
    path.write_text(text)
    return path
