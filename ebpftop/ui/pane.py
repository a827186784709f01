"""What the app asks of every pane, and what a pane may ask of its probe."""

from __future__ import annotations

from textual.message import Message


class ProbeRequest(Message):
    """A pane asks its probe for something (XDP: attach to an interface); the app hands it to the source,
    which runs it on the sampler thread as the probe's method ``verb`` (see registry.ProbeCommand)."""

    def __init__(self, probe: str, verb: str, *args: str) -> None:
        super().__init__()
        self.probe = probe
        self.verb = verb
        self.args = args
