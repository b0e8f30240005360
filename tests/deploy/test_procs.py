"""The shared process runner (`deploy.procs`) on small `python -c` children: what
`expect` finds, keeps and says when the child dies, `wait_ready`, `wait_file`,
`stop` on a child that ignores SIGTERM, and a group stopping in reverse order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deploy.procs import REPO, Proc, ProcError, ProcGroup, child_env, run, tape_argv


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_expect_finds_a_key_and_keeps_the_others(tmp_path: Path) -> None:
    p = Proc("talker", py("""
        import json, time
        for m in ({"a": 1}, {"b": 2}, {"c": 3}, {"d": 4}):
            print(json.dumps(m))
        print("not json")
        print(json.dumps([1, 2]))
        time.sleep(30)
    """), tmp_path)
    try:
        assert p.expect("c", timeout=10, keep=True) == {"c": 3}
        assert p.pending == [{"a": 1}, {"b": 2}]
        assert p.expect("b", timeout=0) == {"b": 2}  # from `pending`, no wait
        assert p.expect("value", timeout=10) == {"value": [1, 2]}
        assert p.history == [{"a": 1}, {"b": 2}, {"c": 3}, {"d": 4}, {"text": "not json"},
                             {"value": [1, 2]}]
        assert p.pending == [{"a": 1}]  # without `keep`, what it passed over is history only
        with pytest.raises(ProcError, match=r"no 'e' from talker \(pid \d+, running\)"):
            p.expect("e", timeout=0.3)
    finally:
        assert p.stop(5) == -signal.SIGTERM
        p.close()


def test_expect_quotes_stderr_when_the_child_dies(tmp_path: Path) -> None:
    p = Proc("dier", py("""
        import json, sys
        print(json.dumps({"hello": 1}))
        sys.stderr.write("first line\\nthe last words\\n")
        sys.exit(3)
    """), tmp_path)
    try:
        with pytest.raises(ProcError) as err:
            p.expect("never", timeout=30)
        text = str(err.value)
        assert "dier (pid" in text and "exited 3" in text
        assert "the last words" in text and "ended before saying 'never'" in text
        assert p.history == [{"hello": 1}]
        assert (tmp_path / "dier.stderr").read_text() == "first line\nthe last words\n"
        assert p.stderr_tail(1) == "the last words"
    finally:
        p.close()


def test_the_last_lines_of_a_child_that_exits_at_once_are_not_lost(tmp_path: Path) -> None:
    p = Proc("quick", py("import json; print(json.dumps({'done': 7}))"), tmp_path)
    try:
        assert p.wait(10) == 0
        assert p.expect("done", timeout=10) == {"done": 7}
    finally:
        p.close()


def test_wait_ready_and_send(tmp_path: Path) -> None:
    p = Proc("echo", py("""
        import json, sys
        print("starting up")
        print(json.dumps({"ready": {"port": 1234}}))
        for line in sys.stdin:
            print(json.dumps({"got": line.strip()}))
    """), tmp_path)
    try:
        assert p.wait_ready(10) == {"ready": {"port": 1234}}
        assert p.history == [{"text": "starting up"}, {"ready": {"port": 1234}}]
        p.send("go")
        assert p.expect("got", 10) == {"got": "go"}
    finally:
        p.stop(5)
        p.close()


def test_wait_file_waits_for_a_status_this_process_wrote(tmp_path: Path) -> None:
    status = tmp_path / "day" / "thing.status.json"
    status.parent.mkdir()
    status.write_text(json.dumps({"pid": 1, "state": "closed"}))  # an earlier run's
    p = Proc("writer", py(f"""
        import json, os, time
        time.sleep(0.2)
        path = {str(status)!r}
        with open(path + ".tmp", "w") as f:
            json.dump({{"pid": os.getpid(), "state": "running"}}, f)
        os.replace(path + ".tmp", path)
        time.sleep(30)
    """), tmp_path / "logs")
    try:
        st = p.wait_file(status, lambda s: s["pid"] == p.pid, timeout=10)
        assert st == {"pid": p.pid, "state": "running"}
    finally:
        p.stop(5)
        p.close()


def test_wait_file_fails_when_the_process_ends_without_it(tmp_path: Path) -> None:
    p = Proc("quitter", py("import sys; sys.stderr.write('no status today\\n')"), tmp_path)
    try:
        with pytest.raises(ProcError, match=r"(?s)no status today.*ended before its status"):
            p.wait_file(tmp_path / "missing.json", timeout=10, what="its status")
    finally:
        p.close()


def test_stop_kills_a_child_that_ignores_sigterm_and_reaps_it(tmp_path: Path) -> None:
    p = Proc("stubborn", py("""
        import json, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(json.dumps({"ready": True}))
        while True:
            time.sleep(1)
    """), tmp_path)
    try:
        p.wait_ready(10)
        cpu = p.cpu_seconds()
        assert cpu is not None and cpu >= 0
        t0 = time.monotonic()
        assert p.stop(timeout=0.5) == -signal.SIGKILL
        assert time.monotonic() - t0 < 5
        assert not p.alive()
        with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
            os.waitpid(p.pid, os.WNOHANG)
        assert p.cpu_seconds() is None
        assert p.stop(timeout=0.5) == -signal.SIGKILL  # again: nothing to do
    finally:
        p.close()


def test_kill9(tmp_path: Path) -> None:
    p = Proc("victim", py("import time; time.sleep(30)"), tmp_path)
    try:
        assert p.kill9() == -signal.SIGKILL
        assert "victim" in p.describe() and "exited -9" in p.describe()
    finally:
        p.close()


_RECORDS_ITS_STOP = """
    import json, signal, sys
    def stop(*_):
        with open({path!r}, "a") as f:
            f.write({name!r} + "\\n")
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print(json.dumps({{"ready": True}}))
    signal.pause()
"""


def test_a_group_stops_in_reverse_order(tmp_path: Path) -> None:
    order = tmp_path / "stopped.txt"
    with ProcGroup(tmp_path / "logs", stop_timeout=10) as g:
        for name in ("first", "second", "third"):
            g.spawn(name, py(_RECORDS_ITS_STOP.format(path=str(order), name=name)))
        for p in g.procs:
            p.wait_ready(10)
        g.check_alive()
    assert order.read_text().split() == ["third", "second", "first"]
    assert [p.popen.returncode for p in g.procs] == [0, 0, 0]


def test_a_group_stops_every_process_even_when_one_stop_fails(tmp_path: Path) -> None:
    class Failing(ProcGroup):
        def stop_one(self, proc: Proc) -> None:
            super().stop_one(proc)
            if proc.name == "b":
                raise ProcError("b would not go")

    g = Failing(tmp_path, stop_timeout=5)
    for name in ("a", "b", "c"):
        g.spawn(name, py("import time; time.sleep(30)"))
    with pytest.raises(ProcError, match="b would not go"):
        g.close()
    assert not any(p.alive() for p in g.procs)


def test_a_group_names_each_process_its_own_log(tmp_path: Path) -> None:
    with ProcGroup(tmp_path) as g:
        a = g.spawn("worker", py("import sys; sys.stderr.write('one')"))
        b = g.spawn("worker", py("import sys; sys.stderr.write('two')"))
        assert (a.name, b.name) == ("worker", "worker-2")
        assert (a.wait(10), b.wait(10)) == (0, 0)
        assert (a.stderr_text(), b.stderr_text()) == ("one", "two")
    with ProcGroup(tmp_path) as g:
        g.spawn("early", py("pass")).wait(10)
        with pytest.raises(ProcError, match=r"early \(pid \d+, exited 0\), no stderr"):
            g.check_alive()


def test_child_env_run_and_tape_argv() -> None:
    env = child_env({"TAPE_TEST_X": "1"})
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO)
    assert env["PYTHONUNBUFFERED"] == "1" and env["TAPE_TEST_X"] == "1"
    assert tape_argv("status", "--day", "D") == [sys.executable, "-m", "deploy", "status",
                                                 "--day", "D"]
    r = run(py("import os; print(os.environ['TAPE_TEST_X'])"), 30, {"TAPE_TEST_X": "2"})
    assert (r.returncode, r.stdout) == (0, "2\n")


def test_the_runner_imports_nothing_heavy() -> None:
    """Every starter imports it; QuickFIX and the stack's libraries are theirs to import."""
    code = ("import sys, deploy.procs; "
            "print(sorted(m for m in ('quickfix', 'numpy', 'pyaeron', 'msgspec', 'typer') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=child_env(),
                       capture_output=True, text=True, timeout=60, check=False)
    assert (r.returncode, r.stdout.strip()) == (0, "[]"), r.stderr
