"""The chat on AutoGen AgentChat: the seats, the table and its team, the durable runner, the human reviewer."""

from .runner import OnMessage, Runner, make_entry
from .team import REVIEWER, ROLES, ReviewSettings, Session, build_session, seat_roles

__all__ = ["OnMessage", "REVIEWER", "ROLES", "ReviewSettings", "Runner", "Session", "build_session", "make_entry",
           "seat_roles"]
