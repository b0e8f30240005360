"""The sequenced stream.

Message schema and codec (`sequencer.messages`), the source registry
(`sequencer.sources`: every publisher's id and what it publishes), the message
index behind `tape messages` (`sequencer.index`), the frame format
(`sequencer.frames`), the journal (`sequencer.journal`), the Aeron transport
(`sequencer.transport`; across hosts, catch-up from the journal over the network:
`sequencer.journal_server`), the sequencer service itself (`sequencer.service`),
the app runtime (`sequencer.runtime`), and the stream kit (`sequencer.kit`):
apps in lockstep on an in-process stream, for tests, generated days and
backtests. Nothing here imports another top-level package.
"""
