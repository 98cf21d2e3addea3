"""Role cards: each agent's name, description, system message, model tag and templates, as YAML data;
the templates each role needs and the variables each is given, and the check of every card against them."""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigError
from .loader import YamlDoc, load_model, parse_model, parse_yaml

PACKAGE_AGENTS = Path(__file__).parent.parent / "agents"
ROLE_DEFAULTS = PACKAGE_AGENTS / "defaults"

# A reply's max_tokens: beyond any model's output limit is a typo, not a setting to send.
MAX_REPLY_TOKENS = 131_072
ReplyTokens = Annotated[int, Field(ge=1, le=MAX_REPLY_TOKENS)]

Role = Literal["prompt_engineer", "task_executor", "critic", "moderator", "judge"]

# What RunContext.base_values gives every template and system message.
BASE_VARIABLES = ("task", "criteria", "examples", "round")

# The templates the code renders for each role, and the variables each gets on top of BASE_VARIABLES, as
# passed at the call sites: search/propose.py draft (draft), chat/seats.py PromptEngineer._propose (revise, and
# revise_add when the revision is a prompt tried before),
# search/propose.py edits (edit, add and operator_<name>, one per named edit; labels, a sentence per label from
# train inputs under each, for define_labels), search/evaluate.py run_prompt (run)
# and review_outputs (review; the reply shape from eval/critique.py review_values), chat/seats.py Moderator._focus
# (focus) and Moderator._versus_best (compare, search/pairwise.py, rubric scenarios).
# A card's system message is rendered beside each of its role's templates, so it gets what they all share.
_REVISE = ("best_round", "best_score", "scale", "best_prompt", "trajectory", "critiques", "failures", "focus", "reviewer")
_EDIT = ("output_rule", "instruction", "best_score", "trajectory", "error_pattern", "failures", "critiques", "reviewer")

ROLE_TEMPLATES: dict[Role, dict[str, tuple[str, ...]]] = {
    "prompt_engineer": {
        "draft": ("output_rule",),
        "revise": _REVISE,
        "revise_add": _REVISE,
        "edit": _EDIT + ("operator",),
        "add": _EDIT + ("operator",),
        **{f"operator_{op}": _EDIT for op in ("fix_errors", "decision_rules", "reason_first", "output_format", "simplify")},
        "labels": ("label_examples",),
    },
    "task_executor": {"run": ("prompt", "input")},
    "critic": {"review": ("focus", "rubric", "outputs", "score_keys", "n_outputs", "reply_shape")},
    "moderator": {"focus": ("scores", "weakest", "issues"), "compare": ("input", "output_a", "output_b", "reply_shape")},
}

# Roles that never sit in the chat: compare's pairwise judge (compare/judge.py judge_pairs). Kept apart so
# ROLE_TEMPLATES stays the chat's call sites, which a run renders all of (tests/test_validate.py checks that).
OUTSIDE_CHAT_TEMPLATES: dict[Role, dict[str, tuple[str, ...]]] = {
    "judge": {"compare": ("input", "output_a", "output_b", "reply_shape")},
}


def role_templates(role: Role) -> dict[str, tuple[str, ...]]:
    """The templates a role's cards must have, and the variables each gets on top of BASE_VARIABLES."""
    return ROLE_TEMPLATES.get(role) or OUTSIDE_CHAT_TEMPLATES[role]

# Templates an earlier redraft rendered under another name: a card written for it is told the new name.
# operator_rewrite_errors asked for a whole instruction; operator_fix_errors asks for sentences to add.
RENAMED = {"operator_rewrite_errors": "operator_fix_errors"}


def template_variables(role: Role, template: str) -> frozenset[str]:
    """The variables a role's template is given."""
    return frozenset(BASE_VARIABLES + role_templates(role)[template])


def system_variables(role: Role) -> frozenset[str]:
    """The variables a role's system message may use: those every one of its templates is given."""
    return frozenset.intersection(*(template_variables(role, t) for t in role_templates(role)))


class AgentCard(BaseModel):
    """One role at the table, loaded from `agents/<name>.yaml` over its role's defaults (`agents/defaults/`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    role: Role
    description: str
    system_message: str
    model: str = "default"
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: ReplyTokens | None = None
    templates: dict[str, str] = Field(default_factory=dict)
    # Critics only: what this critic looks at, and how it scores.
    focus: str | None = None
    rubric: list[str] = Field(default_factory=list)

    source: str | None = Field(default=None, exclude=True)

    @field_validator("rubric")
    @classmethod
    def _rubric_items_non_empty(cls, v: list[str]) -> list[str]:
        if any(not item.strip() for item in v):
            raise ValueError("rubric items must be non-empty strings")
        return v

    @model_validator(mode="after")
    def _critic_has_focus_and_rubric(self) -> "AgentCard":
        if self.role == "critic" and (not self.focus or not self.rubric):
            raise ValueError("a critic card needs both 'focus' and 'rubric'")
        return self

    def render(self, template: str, **values: Any) -> str:
        """Fill one of this card's templates; a missing template or variable is a ConfigError naming it."""
        _check_call(self.role, f"template '{template}'", values, [template])
        if template not in self.templates:
            raise ConfigError(
                self.source,
                f"the card has no template '{template}'; known templates: {', '.join(sorted(self.templates)) or 'none'}",
                key="templates",
            )
        return render(self.templates[template], values, file=self.source, key=f"templates.{template}")

    def without_echo(self, template: str, reply: str) -> str:
        """A reply without the lines it copied from the request's own wording: a heading or an ask of the
        template ("Current instructions (dev score 0.60 on a 0-1 scale, higher is better):"), each $variable
        standing for whatever was filled in. A small model hands such lines back as if they were its text."""
        text = self.templates.get(template, "")
        frame, labels = _frame(text), _labels(text)
        lines = [line for line in reply.splitlines() if not any(p.fullmatch(" ".join(line.split())) for p in frame)]
        # "Current instructions: <the instructions>": a heading's label put in front of the reply's own text
        return "\n".join(labels.sub("", line) for line in lines).strip()

    def render_system(self, values: dict[str, Any]) -> str:
        """The card's system message, with the same variables as the template it goes with."""
        _check_call(self.role, "system message", values, list(role_templates(self.role)))
        return render(self.system_message, values, file=self.source, key="system_message")


class RoleDefaults(BaseModel):
    """What every card of one role inherits unless it sets the key itself (`agents/defaults/<role>.yaml`)."""

    model_config = ConfigDict(extra="forbid")

    system_message: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: ReplyTokens | None = None
    # Merged with a card's own templates name by name, so a card can replace one and keep the rest.
    templates: dict[str, str] = Field(default_factory=dict)


def _check_call(role: Role, what: str, values: dict[str, Any], templates: list[str]) -> None:
    # Our own bug, not the user's: a call site and ROLE_TEMPLATES disagree, so validation would check a lie.
    if not any(set(values) == template_variables(role, t) for t in templates if t in role_templates(role)):
        declared = " or ".join(_names(template_variables(role, t)) for t in templates if t in role_templates(role))
        raise TypeError(f"the {role} {what} is rendered with {_names(values)}, but cards.ROLE_TEMPLATES declares "
                        f"{declared or 'no such template'}; make the call site and the declaration agree")


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"${n}" for n in sorted(names)) or "nothing"


def _unknown_variable(text: str, available: Iterable[str], file: str | None, key: str | None) -> ConfigError | None:
    """The error for a template that is malformed or names a variable not in `available`, or None."""
    tpl = string.Template(text)
    if not tpl.is_valid():
        bad = next(m for m in tpl.pattern.finditer(text) if m.group("invalid") is not None)
        line = text.count("\n", 0, bad.start()) + 1
        return ConfigError(file, f"a $ not followed by a variable name ({text[bad.start():].split()[0][:12]!r}, line {line} "
                           "of the text); write $name or ${name} for a variable and $$ for a dollar sign", key=key)
    known = set(available)
    missing = [name for name in tpl.get_identifiers() if name not in known]
    if missing:
        return ConfigError(file, f"template variable ${missing[0]} is not provided; available: {_names(known)}", key=key)
    return None


_VARIABLE = re.compile(r"\$(?:\w+|\{\w+\})")
FRAME_WORDS = 3  # a template line with fewer words of its own (e.g. "Task: $task") is not told apart from a prompt's


def _frame(text: str) -> list[re.Pattern[str]]:
    """A template's own lines as patterns that match them filled in (whitespace as the reply spaces it)."""
    patterns = []
    for line in text.splitlines():
        line = " ".join(line.split())
        fixed = _VARIABLE.sub(" ", line)
        if len(re.findall(r"[^\W\d_]+", fixed)) < FRAME_WORDS:
            continue
        parts = [re.escape(part) for part in _VARIABLE.split(line)]
        patterns.append(re.compile(".+".join(parts), re.IGNORECASE))
    return patterns


def _labels(text: str) -> re.Pattern[str]:
    """The labels of a template's headings ("Current instructions" of "Current instructions (dev score …):") as
    a pattern for one at the start of a line followed by a colon; a one-word label is not told apart from a
    prompt's."""
    labels = []
    for line in text.splitlines():
        line = " ".join(line.split())
        if line.endswith(":") and "$" not in line.split("(")[0]:
            label = line.split("(")[0].rstrip(" :")
            if len(label.split()) >= 2:
                labels.append(re.escape(label))
    return re.compile(rf"^\s*(?:{'|'.join(labels)})\s*:\s*" if labels else r"(?!)", re.IGNORECASE)


def render(text: str, values: dict[str, Any], *, file: str | None = None, key: str | None = None) -> str:
    """Substitute `$name` variables; fail loudly naming the first missing one."""
    error = _unknown_variable(text, values, file, key)
    if error is not None:
        raise error
    return string.Template(text).substitute({k: str(v) for k, v in values.items()})


def check_card(card: AgentCard) -> None:
    """The card has every template its role renders and no other, and uses only the variables each is given."""
    needed = role_templates(card.role)
    wanted = f"a {card.role} card has the templates: {', '.join(needed)}"
    for name in needed:
        if name not in card.templates:
            raise ConfigError(card.source, f"the template is missing; {wanted}; it is given "
                              f"{_names(template_variables(card.role, name))}", key=f"templates.{name}")
    for name, text in card.templates.items():
        if name not in needed:
            renamed = f" ('{name}' is now '{RENAMED[name]}')" if name in RENAMED else ""
            raise ConfigError(card.source, f"unknown template{renamed}; {wanted}", key=f"templates.{name}")
        error = _unknown_variable(text, template_variables(card.role, name), card.source, f"templates.{name}")
        if error is not None:
            raise error
    error = _unknown_variable(card.system_message, system_variables(card.role), card.source, "system_message")
    if error is not None:
        raise error


def load_role_defaults(folder: Path = ROLE_DEFAULTS) -> dict[str, RoleDefaults]:
    """Each role's defaults, from `<role>.yaml` files in `folder`."""
    out: dict[str, RoleDefaults] = {}
    for path in sorted(folder.glob("*.y*ml")):
        if path.stem not in get_args(Role):
            raise ConfigError(str(path), f"a defaults file is named for its role; roles: {', '.join(get_args(Role))}")
        out[path.stem] = load_model(path, RoleDefaults)
    return out


def _inherit(doc: YamlDoc, defaults: dict[str, RoleDefaults]) -> YamlDoc:
    """The card's keys over its role's defaults; templates one by one, so a card can replace just one."""
    data = doc.data
    if not isinstance(data, dict) or data.get("role") not in defaults:
        return doc
    base = defaults[data["role"]]
    merged = base.model_dump(exclude_none=True, exclude={"templates"}) | data
    if isinstance(data.get("templates", {}), dict):
        merged["templates"] = base.templates | data.get("templates", {})
    return dataclasses.replace(doc, data=merged)


def load_card(path: Path, defaults: dict[str, RoleDefaults] | None = None) -> AgentCard:
    """Load one card file over its role's defaults, and check its templates against its role."""
    doc = _inherit(parse_yaml(path, "a YAML agent card"), load_role_defaults() if defaults is None else defaults)
    card = parse_model(doc, AgentCard)
    card.source = str(path)
    check_card(card)
    return card


def load_cards(extra_dirs: list[Path] | None = None) -> dict[str, AgentCard]:
    """The shipped cards, then each extra folder's cards on top (same name overrides)."""
    cards: dict[str, AgentCard] = {}
    defaults = load_role_defaults()
    for folder in [PACKAGE_AGENTS, *(extra_dirs or [])]:
        if not folder.is_dir():
            raise ConfigError(str(folder), "agents folder not found")
        seen: dict[str, Path] = {}
        for path in sorted(folder.glob("*.y*ml")):
            card = load_card(path, defaults)
            if card.name in seen:
                raise ConfigError(str(path), f"card name '{card.name}' is also used by {seen[card.name]}", key="name")
            seen[card.name] = path
            cards[card.name] = card
    return cards


def find_role(cards: dict[str, AgentCard], role: Role) -> AgentCard:
    """The card for a single-seat role (the last loaded wins when a folder overrides)."""
    named = cards.get(role)
    if named is not None and named.role == role:
        return named
    for card in cards.values():
        if card.role == role:
            return card
    raise ConfigError(None, f"no agent card with role '{role}' was found; add agents/{role}.yaml")
