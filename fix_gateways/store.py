"""What a FIX session already sent, read from its QuickFIX FileStore.

A gateway that restarts catches up from the journal and must not send a
client (or a venue) a message twice beyond FIX's own PossDup resend. The
session's message store is the record of what went out: QuickFIX writes every
application message it sends to `<session>.body`, indexed by `<session>.header`
("seq,offset,size" entries), before it writes the message to the socket. So a
message whose key is in the store was sent (or will be resent by QuickFIX on
the counterparty's resend request); one that is not must be sent now.

The key of a message is what makes it unique for the day: an execution report's
ExecID (17), any other message's ClOrdID (11), prefixed by its MsgType (35).
"""

# determinism: edge module, reads a gateway's FIX store files at start

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fix_gateways.fixmsg import read


def store_prefix(store_dir: Path, begin: str, sender: str, target: str) -> Path:
    """The path prefix of a session's store files (QuickFIX names them by SessionID)."""
    return Path(store_dir) / f"{begin}-{sender}-{target}"


def message_key(raw: str) -> str | None:
    """`35value:17value` for an execution report, `35value:11value` for other messages
    with a ClOrdID, None for messages without one (session level)."""
    f = read(raw)
    msg_type = f.get("35", "")
    if msg_type == "8" and f.get("17"):
        return f"8:{f['17']}"
    if f.get("11"):
        return f"{msg_type}:{f['11']}"
    return None


def sent_keys(prefix: Path) -> set[str]:
    """Keys of the application messages a session's store holds (an empty set for a
    session that has not sent anything yet)."""
    return set(sent_counts(prefix))


def sent_counts(prefix: Path) -> Counter[str]:
    """How many application messages of each key a session's store holds: a key may
    repeat (two cancel rejects answering requests with the same ClOrdID)."""
    header = prefix.with_name(prefix.name + ".header")
    body = prefix.with_name(prefix.name + ".body")
    counts: Counter[str] = Counter()
    try:
        index = header.read_text()
        data = body.read_bytes()
    except FileNotFoundError:
        return counts
    for entry in index.split():
        parts = entry.split(",")
        if len(parts) != 3:
            continue
        offset, size = int(parts[1]), int(parts[2])
        key = message_key(data[offset:offset + size].decode("latin-1"))
        if key is not None:
            counts[key] += 1
    return counts
