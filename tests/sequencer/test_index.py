"""The message index (`tape messages`): every type has a publisher and a consumer, or
says why not, and the index is what the code says."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sequencer import index, sources
from sequencer.kit import OutputNotDeclared, StreamKit
from sequencer.messages import ALL_TYPES, TYPE_ID, Message
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import Alert
from sequencer.messages.orders import ChildOrderSent, NewChild
from sequencer.runtime.app import App, handles
from tests.conftest import REPO


def test_every_type_has_a_consumer_or_is_for_the_record() -> None:
    for e in index.build():
        assert bool(e.handlers) != bool(e.record), (
            f"{e.name}: handled by {e.handlers or 'nobody'}; "
            + ("mark it in sequencer.index.FOR_THE_RECORD with why it is on the stream"
               if not e.handlers else "it has consumers: take it out of FOR_THE_RECORD"))


def test_every_type_has_a_publisher_or_says_who_sends_it() -> None:
    for e in index.build():
        assert bool(e.publishers) != bool(e.elsewhere), e.name


def test_the_index_reads_the_handlers_of_apps_and_edge_processes() -> None:
    by_name = {e.name: e for e in index.build()}
    assert by_name["ExecutionReport"].handlers == ["client_gateway.on_execution_report"]
    assert by_name["ChildOrderSent"].publishers == ["oms"]
    assert "venue_gateway.on_child_order" in by_name["ChildOrderSent"].handlers
    assert "ticker_plant.on_subscribe" in by_name["Subscribe"].handlers
    assert by_name["SystemStart"].handlers[0].startswith("runtime (every app)")
    kinds = {name: kind for name, kind, _ in index.consumers()}
    assert kinds["oms"] == "app" and kinds["client_gateway"] == "edge"
    assert "noop" not in {h.split(".")[0] for e in by_name.values() for h in e.handlers}


def test_field_types_read_as_people_write_them() -> None:
    e = next(e for e in index.build() if e.name == "NewOrder")
    types = dict(e.fields)
    assert types["qty"] == "int" and types["side"] == "buy | sell | sell_short | " \
                                                  "sell_short_exempt"
    assert types["algo_params"] == "tuple[tuple[str, str], ...]"


def test_tape_messages_json_lists_every_type() -> None:
    r = subprocess.run([sys.executable, "-m", "deploy", "messages", "--json"], cwd=REPO,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["type_id"] for row in rows] == [TYPE_ID[t] for t in ALL_TYPES]
    assert all({"name", "family", "fields", "publishers", "handlers"} <= row.keys()
               for row in rows)
    r = subprocess.run([sys.executable, "-m", "deploy", "messages", "NoSuchType"], cwd=REPO,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "no message type 'NoSuchType'" in r.stderr


class Wrong(App):
    """Publishes a type its source (the OMS's, borrowed) does not list."""

    name = "wrong"
    source_id = sources.OMS

    @handles(OperatorNote)
    def on_note(self, m: OperatorNote) -> None:
        self.ctx.publish(NewChild("P", "C", "XNYS", 100, "limit", 1, "day"))


def test_the_kit_refuses_an_output_its_source_does_not_publish() -> None:
    kit = StreamKit([Wrong()])
    with pytest.raises(OutputNotDeclared, match="oms published NewChild"):
        kit.send(OperatorNote("ops", "go"), sources.INJECT)


def test_what_a_source_publishes_is_what_it_may() -> None:
    allowed = sources.allowed_outputs(sources.OMS)
    assert allowed is not None and TYPE_ID[ChildOrderSent] in allowed
    assert sources.allowed_outputs(sources.runtime_alerts(sources.OMS)) == frozenset(
        {TYPE_ID[Alert]})
    assert sources.allowed_outputs(sources.adhoc(3)) is None  # a test's own: not checked
    assert sources.name(sources.runtime_alerts(sources.OMS)) == "runtime:oms"
    assert sources.publisher(ChildOrderSent) == sources.OMS
    msg: type[Message] = ChildOrderSent
    assert msg in sources.BY_ID[sources.OMS].publishes
