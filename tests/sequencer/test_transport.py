"""Pure parts of the transport: message size limits from a channel."""

from __future__ import annotations

import pytest

from sequencer.transport import max_message_length


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("aeron:ipc", 8 << 20),  # 64 MiB IPC terms by default
        ("aeron:udp?endpoint=127.0.0.1:40123", 2 << 20),  # 16 MiB UDP terms by default
        ("aeron:ipc?term-length=65536", 8192),
        ("aeron:ipc?term-length=64k", 8192),
        ("aeron:udp?endpoint=h:1|term-length=1m", 128 << 10),
        ("aeron:ipc?term-length=1g", 16 << 20),  # Aeron caps a message at 16 MiB
    ],
)
def test_max_message_length_is_an_eighth_of_the_term(channel: str, expected: int) -> None:
    assert max_message_length(channel) == expected
