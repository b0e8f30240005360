"""Who may use the blotter: users and roles from a TOML file, and their sessions.

The users file (`DAY/config/blotter_users.toml` unless `--users` names another):

    [users.alice]
    role = "operator"          # viewer: sees; operator: sees and acts
    token_sha256 = "9f86d0..."  # SHA-256 (hex) of the user's token or password

    [users.bob]
    role = "viewer"
    token = "a plain token"    # accepted too; a file of plain tokens should be 0600

`tape blotter add-user NAME --role ROLE` writes an entry with a fresh random
token and prints the token once. Every comparison is of SHA-256 digests with
`hmac.compare_digest`, and an unknown user is compared against a dummy digest,
so neither a token nor the existence of a user leaks through timing.

A session is a signed cookie (HttpOnly, SameSite=Strict), with a CSRF token
of its own that an HTTP action must echo in a header (`Sessions`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")
USERS_FILE = "blotter_users.toml"
_DUMMY = hashlib.sha256(b"no such user").hexdigest()


class UsersError(ValueError):
    """The users file cannot be used; the message names the file, the key and what
    was expected."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    token_sha256: str

    @property
    def can_act(self) -> bool:
        return self.role == "operator"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def default_users_file(day: Path) -> Path:
    return Path(day) / "config" / USERS_FILE


def load_users(path: Path) -> dict[str, User]:
    """The users of a users file; `UsersError` naming file, key and expectation."""
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsersError(f"{path}: no users file (create one with `tape blotter add-user "
                         f"NAME --role operator --users {path}`)") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsersError(f"{path}: cannot be read as TOML: {e}") from None
    table = doc.get("users")
    if not isinstance(table, dict) or not table:
        raise UsersError(f"{path}: [users]: expected a table of users ([users.NAME] with "
                         "role and token_sha256)")
    unknown = sorted(set(doc) - {"users"})
    if unknown:
        raise UsersError(f"{path}: {unknown[0]}: unknown key (expected only [users.NAME])")
    out: dict[str, User] = {}
    for name, entry in table.items():
        key = f"users.{name}"
        if not isinstance(entry, dict):
            raise UsersError(f"{path}: {key}: expected a table with role and token_sha256")
        extra = sorted(set(entry) - {"role", "token", "token_sha256"})
        if extra:
            raise UsersError(f"{path}: {key}.{extra[0]}: unknown key (expected role, "
                             "token_sha256 or token)")
        role = entry.get("role")
        if role not in ROLES:
            raise UsersError(f"{path}: {key}.role: expected one of {', '.join(ROLES)}, "
                             f"got {role!r}")
        if "token_sha256" in entry:
            h = entry["token_sha256"]
            if not (isinstance(h, str) and len(h) == 64
                    and all(c in "0123456789abcdef" for c in h)):
                raise UsersError(f"{path}: {key}.token_sha256: expected 64 lowercase hex "
                                 "digits (the SHA-256 of the token)")
        elif isinstance(entry.get("token"), str) and len(entry["token"]) >= 8:
            h = digest(entry["token"])
        else:
            raise UsersError(f"{path}: {key}: expected token_sha256, or a token of at least "
                             "8 characters")
        out[name] = User(name=name, role=role, token_sha256=h)
    return out


def add_user(path: Path, name: str, role: Role) -> str:
    """Add (or replace) a user with a fresh token; the token, which is not stored."""
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UsersError(f"{name!r}: a user name is letters, digits, '-', '_' and '.'")
    if role not in ROLES:
        raise UsersError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
    users = load_users(path) if path.exists() else {}
    token = secrets.token_urlsafe(24)
    users[name] = User(name=name, role=role, token_sha256=digest(token))
    lines = ["# The blotter's users (tape blotter add-user); tokens are stored as SHA-256.", ""]
    for u in users.values():
        lines += [f'[users."{u.name}"]', f'role = "{u.role}"',
                  f'token_sha256 = "{u.token_sha256}"', ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.chmod(0o600)
    tmp.replace(path)
    return token


def check(users: dict[str, User], name: str, token: str) -> User | None:
    """The user if `token` is theirs, else None (in time that says nothing of which)."""
    u = users.get(name)
    want = u.token_sha256 if u is not None else _DUMMY
    ok = hmac.compare_digest(digest(token).encode(), want.encode())
    return u if ok and u is not None else None


def bearer(users: dict[str, User], token: str) -> User | None:
    """The user whose token this is (an `Authorization: Bearer` request), compared
    against every user so the time taken does not say which."""
    got = digest(token).encode()
    found = None
    for u in users.values():
        if hmac.compare_digest(got, u.token_sha256.encode()):
            found = u
    return found


@dataclass(frozen=True)
class Session:
    user: User
    sid: str  # the cookie's value
    csrf: str  # what an HTTP action must send in X-Tape-CSRF


class Sessions:
    """Signed-in sessions, as signed cookies: `user.issued.signature`, signed with a
    secret kept in the day folder (`DAY/blotter/secret`, 0600). A restarted server
    still knows its sessions, so a page that reconnects after a restart carries on
    without asking for the token again. The user's role is looked up afresh at
    every use: a user taken out of the users file is signed out at once."""

    COOKIE = "tape_blotter"
    MAX_AGE_S = 16 * 3600  # a trading day and its evening

    def __init__(self, users: dict[str, User], secret: bytes) -> None:
        self.users = users
        self._secret = secret
        self._closed: set[str] = set()  # signed out (until the cookie expires anyway)

    @staticmethod
    def secret_in(folder: Path) -> bytes:
        """The day's signing secret, made on first use."""
        path = folder / "secret"
        try:
            data = path.read_bytes()
            if len(data) >= 32:
                return data
        except FileNotFoundError:
            pass
        folder.mkdir(parents=True, exist_ok=True)
        data = secrets.token_bytes(32)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        tmp.replace(path)
        return data

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def open(self, user: User, now_s: float) -> Session:
        body = f"{user.name}.{int(now_s)}"
        sid = f"{body}.{self._sign(body)}"
        return Session(user, sid, self._sign("csrf:" + sid))

    def get(self, sid: str | None, now_s: float) -> Session | None:
        if not sid or sid in self._closed or sid.count(".") < 2:
            return None
        body, _, sig = sid.rpartition(".")
        if not hmac.compare_digest(sig.encode(), self._sign(body).encode()):
            return None
        name, _, issued = body.rpartition(".")
        if not issued.isdigit() or not 0 <= now_s - int(issued) <= self.MAX_AGE_S:
            return None
        user = self.users.get(name)
        if user is None:
            return None
        return Session(user, sid, self._sign("csrf:" + sid))

    def close(self, sid: str | None) -> None:
        if sid:
            self._closed.add(sid)
