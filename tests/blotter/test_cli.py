"""`tape blotter` as ops run it: its options and refusals, the users file's errors, and a
real server process serving the page from the day folder with no internet."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from blotter.auth import UsersError, add_user, check, load_users
from tests.conftest import REPO, child_env
from tests.post_trade.daykit import KitDay


def tape(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy", "blotter", *args], cwd=REPO,
                          env=child_env({}), text=True, capture_output=True, timeout=60,
                          check=False)


def test_help_and_bad_usage(tmp_path: Path) -> None:
    r = tape("--help")
    assert r.returncode == 0 and "--day" in r.stdout and "add-user" in r.stdout
    assert tape().returncode == 2
    r = tape("--day", str(tmp_path))
    assert r.returncode == 2 and "not a day folder" in r.stderr
    r = tape("add-user", "alice", "--role", "king", "--users", str(tmp_path / "u.toml"))
    assert r.returncode == 2 and "--role" in r.stderr


@pytest.mark.parametrize(("text", "says"), [
    ("users = 3", "[users]: expected a table"),
    ("[users.a]\nrole = 'admin'\ntoken = 'long-enough'", "users.a.role: expected one of"),
    ("[users.a]\nrole = 'viewer'\ntoken = 'short'", "users.a: expected token_sha256"),
    ("[users.a]\nrole = 'viewer'\ntoken_sha256 = 'XYZ'", "users.a.token_sha256: expected 64"),
    ("[users.a]\nrole = 'viewer'\ntoken = 'long-enough'\npassword = 1", "users.a.password"),
    ("[users.a\n", "cannot be read as TOML"),
])
def test_a_bad_users_file_names_file_key_and_expectation(tmp_path: Path, text: str,
                                                          says: str) -> None:
    f = tmp_path / "users.toml"
    f.write_text(text)
    with pytest.raises(UsersError) as e:
        load_users(f)
    assert str(f) in str(e.value) and says in str(e.value)


def test_tokens_are_stored_hashed_and_checked(tmp_path: Path) -> None:
    f = tmp_path / "users.toml"
    r = tape("add-user", "alice", "--role", "operator", "--users", str(f))
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)["token"]
    assert token not in f.read_text() and oct(f.stat().st_mode)[-3:] == "600"
    add_user(f, "bob", "viewer")
    users = load_users(f)
    assert check(users, "alice", token) == users["alice"]
    assert check(users, "alice", token + "x") is None
    assert check(users, "bob", token) is None and check(users, "nobody", token) is None


def test_the_server_serves_the_page_with_no_internet(tmp_path: Path) -> None:
    day = tmp_path / "day"
    kit = KitDay(day)
    kit.order("ALPHA", "O-1", "buy", 100, 183_0000)
    kit.flush()
    users = tmp_path / "users.toml"
    add_user(users, "bob", "viewer")
    p = subprocess.Popen([sys.executable, "-m", "deploy", "blotter", "--day", str(day),
                          "--port", "0", "--users", str(users)], cwd=REPO, env=child_env({}),
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout is not None
        ready = json.loads(p.stdout.readline())
        assert ready["ready"] == "blotter" and ready["seq"] == kit.seq and ready["mode"] == "live"
        url = ready["url"]
        with urllib.request.urlopen(url) as r:
            page = r.read().decode()
            assert "default-src 'self'" in r.headers["content-security-policy"]
        # everything the page loads comes from the server itself
        srcs = [s for s in re.findall(r'(?:src|href)="([^"]+)"', page)
                if not s.startswith("data:")]
        assert srcs and all(s.startswith("/") for s in srcs), srcs
        for s in srcs:
            with urllib.request.urlopen(url.rstrip("/") + s) as r:
                assert r.status == 200 and len(r.read()) > 100
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=20)
    kit.close()
    assert (day / "logs" / "blotter.log").exists()
