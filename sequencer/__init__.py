"""The sequenced stream.

Message schema and codec (`sequencer.messages`), the frame format
(`sequencer.frames`), the journal (`sequencer.journal`), the Aeron transport
(`sequencer.transport`) and the sequencer service itself
(`sequencer.service`). Nothing here imports another top-level package.
"""
