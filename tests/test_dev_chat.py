"""bench/dev_chat.py's count of engineer edits, read from a run folder as a chat writes it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from dev_chat import edit_outcomes  # noqa: E402


def test_every_dropped_edit_is_counted_whatever_the_reason(tmp_path: Path) -> None:
    """A drop reads "- define_labels unusable: …" or "- simplify: the same prompt as an earlier candidate"; the
    second kind went uncounted, so stop 36's tables said 14 edits asked where 18 were."""
    rounds = [{"round": 1, "candidates": [{"operator": "draft"}]},
              {"round": 2, "candidates": [
                  {"operator": "demos", "screen": 0.9, "parent_screen": 0.5, "dev": 0.6, "chosen": True},
                  {"operator": "fix_errors", "screen": 0.4, "parent_screen": 0.5, "dev": None, "chosen": False}]}]
    (tmp_path / "state.json").write_text(json.dumps({"run": {"rounds": rounds}}), encoding="utf-8")
    proposal = ("Proposed 2 candidates for round 2:\n[1] demos: added 12 worked examples\n    Classify.\n"
                "Dropped (3):\n- simplify: the same prompt as an earlier candidate\n"
                '- define_labels unusable: it pasted the input "Who wrote Hamlet ?" into the instructions\n'
                "- output_format: the same prompt as an earlier candidate")
    lines = [{"source": "prompt_engineer", "round": 1, "content": "Round 1 drafts\nDropped (1):\n- draft: junk"},
             {"source": "prompt_engineer", "round": 2, "content": proposal},
             {"source": "evaluator", "round": 2, "content": "Dropped (1):\n- simplify: not an engineer message"}]
    (tmp_path / "transcript.jsonl").write_text("\n".join(map(json.dumps, lines)), encoding="utf-8")
    out = edit_outcomes(tmp_path)
    assert out["simplify"] == {"dropped": 1, "asked": 1}
    assert out["output_format"] == {"dropped": 1, "asked": 1}
    assert out["define_labels"] == {"dropped": 1, "asked": 1}
    assert out["demos"] == {"ran": 1, "beat_parent": 1, "dev": 1, "chosen": 1, "asked": 1}
    assert out["fix_errors"] == {"ran": 1, "beat_parent": 0, "dev": 0, "chosen": 0, "asked": 1}
    assert "draft" not in out  # round 1's drafts are no edits
