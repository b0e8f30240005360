"""A throwaway PostgreSQL cluster: `initdb` in a temporary folder, a server on a free
loopback port, stopped and removed afterwards. The tests and `tape bench db` use it;
so can anyone who wants to try `tape db --url` without a database of their own
(`python -m post_trade.db.pgcluster` prints a URL and runs until interrupted).

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
user (`runuser`). `initdb`, `pg_ctl` and `postgres` come from the PATH, or from
Debian's /usr/lib/postgresql/*/bin; `.ci/run` installs them if the machine lacks them.
The server runs without fsync: a throwaway cluster trades durability for speed.
"""

# determinism: edge module, starts and stops a database server

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(d) / name, os.X_OK):
            return str(Path(d) / name)
    raise RuntimeError(f"PostgreSQL's {name} is not installed (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tape-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o700)

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def url(self, db: str = "postgres", user: str = "tape", password: str = "") -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def init(self) -> None:
        r = self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "tape",
                      "--no-sync")
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stdout}{r.stderr}")
        # Trust on loopback, but the user "guarded" must give its password (the tests of
        # a wrong password use it).
        with (self.data / "pg_hba.conf").open("w") as f:
            f.write("local all all trust\n"
                    "host all guarded 127.0.0.1/32 scram-sha-256\n"
                    "host all all 127.0.0.1/32 trust\n")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        r = self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l",
                      str(self.root / "server.log"), "-w", "-t", "60", "start")
        if r.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {r.stdout}{r.stderr}{self.log()}")

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text()[-4000:]
        return ""

    def fresh_db(self, name: str) -> str:
        """A new empty database in the cluster; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        c.init()
        c.start()
        yield c
    finally:
        c.close()


def main() -> None:
    import signal
    import sys

    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    with cluster() as c:
        sys.stdout.write(f"{c.url()}\n")
        sys.stdout.flush()
        signal.sigwait(stops)


if __name__ == "__main__":
    main()
