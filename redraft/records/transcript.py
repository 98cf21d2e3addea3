"""A transcript entry: one message of the chat as transcript.jsonl holds it, one JSON line each."""

from __future__ import annotations

from pydantic import BaseModel


class Entry(BaseModel):
    """One message: its place in the transcript, its round, who sent it, what it is, and when."""

    seq: int = 0  # numbered when it is committed (0 until then)
    round: int
    source: str
    type: str  # AgentChat's message type, e.g. TextMessage, StopMessage
    kind: str  # what the message is in the round: task, proposal, outputs, review, test, ...
    content: str
    time: str  # UTC, ISO 8601 with milliseconds

    def numbered(self, seq: int) -> Entry:
        """This entry with its sequence number."""
        return self.model_copy(update={"seq": seq})
