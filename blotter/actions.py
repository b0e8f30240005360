"""What an operator may do from the blotter, checked, and the admin command each becomes.

An action arrives as JSON (over the WebSocket or `POST /api/action`):
`{"action": "cancel_parent", "order_id": "...", "reason": "..."}`. `parse`
checks it field by field and returns the admin command, with the user taken
from the session, never from the message (a forged `user` field is refused,
not trusted). The command then goes onto the stream like any input, from the
blotter's source (`sources.BLOTTER`), so the replay and the reports see it.
"""

from __future__ import annotations

from typing import Any

from sequencer.messages.admin import (
    CancelParent,
    EngageKillSwitch,
    ReleaseKillSwitch,
    SetRiskLimit,
)
from sequencer.messages.base import Message

KILL_SCOPES = ("all", "client", "symbol")
RISK_LIMITS = ("max_order_qty", "max_order_notional", "max_gross_notional",
               "max_open_orders", "collar_bps", "symbols")
MAX_TEXT = 200

#: action -> (required fields, optional fields)
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cancel_parent": (("order_id",), ("reason",)),
    "engage_kill": (("scope",), ("value", "reason")),
    "release_kill": (("scope",), ("value", "reason")),
    "set_risk_limit": (("scope", "limit", "value"), ("reason",)),
}
_ENVELOPE = ("t", "id", "action")


class ActionError(ValueError):
    """The action is refused; the message says why (shown to the user, logged)."""


def _text(d: dict[str, Any], key: str, required: bool) -> str:
    v = d.get(key, "")
    if not isinstance(v, str):
        raise ActionError(f"{key}: expected text, got {type(v).__name__}")
    v = v.strip()
    if required and not v:
        raise ActionError(f"{key}: required")
    if len(v) > MAX_TEXT or any(ord(c) < 32 for c in v):
        raise ActionError(f"{key}: at most {MAX_TEXT} printable characters")
    return v


def parse(d: object, user: str) -> Message:
    """The admin command for action `d` taken by `user`; `ActionError` if malformed."""
    if not isinstance(d, dict):
        raise ActionError("an action is a JSON object")
    action = d.get("action")
    if action not in FIELDS:
        raise ActionError(f"action: expected one of {', '.join(FIELDS)}, got {action!r}")
    required, optional = FIELDS[action]
    extra = sorted(set(d) - set(required) - set(optional) - set(_ENVELOPE))
    if extra:
        raise ActionError(f"{extra[0]}: not a field of {action}"
                          + (" (the user is the session's)" if extra[0] == "user" else ""))
    f = {k: _text(d, k, True) for k in required} | {k: _text(d, k, False) for k in optional}
    if action == "cancel_parent":
        return CancelParent(order_id=f["order_id"], reason=f["reason"], user=user)
    if action in ("engage_kill", "release_kill"):
        if f["scope"] not in KILL_SCOPES:
            raise ActionError(f"scope: expected one of {', '.join(KILL_SCOPES)}")
        if f["scope"] != "all" and not f["value"]:
            raise ActionError(f"value: required for scope {f['scope']} (the "
                              f"{f['scope']}'s name)")
        value = "" if f["scope"] == "all" else f["value"]
        cls = EngageKillSwitch if action == "engage_kill" else ReleaseKillSwitch
        return cls(scope=f["scope"], value=value, reason=f["reason"], user=user)
    if f["limit"] not in RISK_LIMITS:
        raise ActionError(f"limit: expected one of {', '.join(RISK_LIMITS)}")
    return SetRiskLimit(scope=f["scope"], limit=f["limit"], value=f["value"],
                        reason=f["reason"], user=user)
