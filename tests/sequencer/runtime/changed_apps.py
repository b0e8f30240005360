"""Builds of the counter app with a deliberate change, for the replay debugger's tests
(`TAPE_APP_OVERRIDE=counter=tests.sequencer.runtime.changed_apps:ChangedCounter`): a
past day replayed with a new build."""

from __future__ import annotations

from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import Alert, Echo
from sequencer.runtime.app import handles
from sequencer.runtime.samples import CounterApp


class ChangedCounter(CounterApp):
    """Echoes the note "second" in capitals: its second output differs from the day's."""

    @handles(OperatorNote)
    def on_note(self, msg: OperatorNote) -> None:
        st = self.state
        st.notes += 1
        st.last_note = msg.text
        text = msg.text.upper() if msg.text == "second" else msg.text
        self.ctx.publish(Echo(text=text, n=st.notes, roll=self.ctx.random.randrange(1000)))


class AlertingCounter(CounterApp):
    """Raises an Alert on the note "third"."""

    @handles(OperatorNote)
    def on_note(self, msg: OperatorNote) -> None:
        super().on_note(msg)
        if msg.text == "third":
            self.ctx.publish(Alert(severity="warning", source=self.name,
                                   text="the third note", code="third"))
