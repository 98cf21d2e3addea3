"""Scoring outputs against labeled targets: what a user checks when a metric says pass or fail."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from redraft.errors import ConfigError
from redraft.config import (Metric, MetricResult, MetricSpec, build_metric, extract_label, extract_number, load_model,
                            normalize)

SENTIMENT = ["positive", "negative", "neutral"]


def score(spec: dict, output: str, target: str, **kw) -> MetricResult:
    return build_metric(MetricSpec(**spec), **kw)(output, target)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("  Hello,   World! ", "hello world"),
        ("Café\u00a0au lait", "café au lait"),  # non-breaking space
        ("\u201cQuoted\u201d \u2018text\u2019", "quoted text"),  # curly quotes
        ("Don\u2019t stop", "dont stop"),  # curly apostrophe keeps the word whole
        ("４２ ＡＢＣ", "42 abc"),  # full-width forms
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # casefold, not just lower
        ("¿Qué tal?", "qué tal"),  # punctuation from any script
        ("line one\n\tline two", "line one line two"),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_case_sensitive_keeps_case() -> None:
    assert normalize("  Paris! ", case_sensitive=True) == "Paris"


@pytest.mark.parametrize(
    "output, target, expected",
    [
        ("Paris", "paris", 1.0),
        ("  PARIS.  ", "Paris", 1.0),
        ("\u201cParis\u201d", "Paris", 1.0),
        ("Paris,\u00a0France", "paris france", 1.0),
        ("São Paulo", "sao paulo", 0.0),  # accents are kept: they change the word
        ("The answer is Paris", "Paris", 0.0),  # exact is strict; use `label` or `contains`
        ("Paris\nParis", "Paris", 0.0),
        ("", "", 1.0),
        ("", "Paris", 0.0),
    ],
)
def test_exact(output: str, target: str, expected: float) -> None:
    assert score({"type": "exact"}, output, target).score == expected


def test_exact_case_sensitive() -> None:
    assert score({"type": "exact", "case_sensitive": True}, "paris", "Paris").score == 0.0
    assert score({"type": "exact", "case_sensitive": True}, "Paris.", "Paris").score == 1.0


@pytest.mark.parametrize(
    "output, expected",
    [
        ("Negative", "negative"),
        ("  **POSITIVE**. ", "positive"),
        ("After careful thought, I'd say the review is clearly negative, not positive.", "negative"),
        ("It is not positive.", None),
        ("This isn\u2019t positive at all; overall it reads neutral.", "neutral"),
        ("Not very positive, honestly negative.", "negative"),
        ("It is not positive but negative", "negative"),
        ("Is it negative? No, positive.", "positive"),
        ("Positive words appear, but overall it is negative.", "negative"),
        # The last explicit answer marker beats any later plain mention.
        ("Answer: positive. Some readers might call it negative.", "positive"),
        ("Sentiment: negative\nLabel: neutral\nThough a negative reading is possible.", "neutral"),
        ("The final answer is **Positive** (the author hints at negative themes).", "positive"),
        ("I considered negative.\n\nFinal answer:\nPositive", "positive"),
        ("neither positive nor negative", None),
        ("The review mentions the price.", None),
        ("", None),
        ("positively glowing", None),  # whole words only
    ],
)
def test_extract_label(output: str, expected: str | None) -> None:
    assert extract_label(output, SENTIMENT) == expected


@pytest.mark.parametrize(
    "output, labels, expected",
    [
        ("The verdict: not negative.", ["negative", "not negative"], "not negative"),
        ("Definitely negative.", ["negative", "not negative"], "negative"),
        ("I'd go with yes and no here.", ["yes", "no", "yes and no"], "yes and no"),
        ("yes", ["yes", "no", "yes and no"], "yes"),
        ("I know it, so: Yes", ["yes", "no"], "yes"),  # "know" is not "no"
        ("The category is Sci-Fi.", ["Sci-Fi", "Drama"], "Sci-Fi"),  # returns the label as written
        ("ＰＯＳＩＴＩＶＥ", SENTIMENT, "positive"),
    ],
)
def test_extract_label_overlapping_and_unicode(output: str, labels: list[str], expected: str) -> None:
    assert extract_label(output, labels) == expected


def test_label_metric_scores_and_shows_what_it_extracted() -> None:
    metric = build_metric(MetricSpec(type="label", labels=["Positive", "Negative"]))
    assert metric.name == "label"
    hit = metric("I'd say the review is clearly negative, not positive.", "negative")
    assert (hit.score, hit.extracted) == (1.0, "Negative")
    miss = metric("Answer: positive", "negative")
    assert (miss.score, miss.extracted) == (0.0, "Positive")
    none = metric("No idea.", "negative")
    assert (none.score, none.extracted) == (0.0, None)


def test_label_case_sensitive() -> None:
    metric = build_metric(MetricSpec(type="label", labels=["A", "B"], case_sensitive=True))
    assert metric("I pick a, no wait, B", "B").score == 1.0
    assert metric("a", "A").extracted is None


@pytest.mark.parametrize(
    "output, target, expected",
    [
        ("I don't know, maybe.", "no", 0.0),  # "know" does not contain the word "no"
        ("No, it is not.", "no", 1.0),
        ("The capital is New York City.", "new york", 1.0),
        ("Newark, New-York!", "new york", 1.0),
        ("Café\u00a0Crème is served", "CAFÉ CRÈME", 1.0),
        ("ravioli", "olio", 0.0),
        ("anything", "", 0.0),
    ],
)
def test_contains(output: str, target: str, expected: float) -> None:
    assert score({"type": "contains"}, output, target).score == expected


@pytest.mark.parametrize(
    "pattern, output, target, expected, extracted",
    [
        (r"answer:\s*(\w+)", "Reasoning...\nANSWER: Paris", "paris", 1.0, "Paris"),
        (r"answer:\s*(\w+)", "Answer: Lyon", "paris", 0.0, "Lyon"),
        (r"answer:\s*(\w+)", "no marker here", "paris", 0.0, None),
        (r"\bparis\b", "I think Paris.", "ignored", 1.0, "Paris"),  # no group: a match scores 1
        (r"(\d+)", "costs ４２ euros", "42", 1.0, "42"),  # NFKC before matching
        (r"x(\d)?y", "xy", "1", 0.0, None),  # group did not take part
    ],
)
def test_regex(pattern: str, output: str, target: str, expected: float, extracted: str | None) -> None:
    result = score({"type": "regex", "pattern": pattern}, output, target)
    assert (result.score, result.extracted) == (expected, extracted)


def test_regex_case_sensitive() -> None:
    assert score({"type": "regex", "pattern": "Paris", "case_sensitive": True}, "paris", "").score == 0.0


@pytest.mark.parametrize(
    "output, expected",
    [
        ("The answer is 42.", 42.0),
        ("First 3 apples, then 5 more, so 8 in total.", 8.0),
        ("Natalia sold 48/2 = 24 clips in May.\n48 + 24 = 72\n#### 72", 72.0),
        ("#### 18\nThat took 3 steps.", 18.0),  # GSM8K marker beats later numbers
        ("The answer is $1,234 (I checked it 3 times).", 1234.0),  # answer marker beats later numbers
        ("It costs $12.50 in total", 12.5),
        ("Growth was 12%", 12.0),
        ("Profit: \u20ac1,234,567.89", 1234567.89),
        ("The temperature fell to -3.5 degrees", -3.5),
        ("The result is \u22127", -7.0),  # unicode minus sign
        ("Pages 10-12", 12.0),  # a range is not a negative number
        ("She ate 3/4 of the pie", 0.75),
        ("x = -1/2", -0.5),
        ("Answer: ４２", 42.0),  # full-width digits
        ("1e-3", 0.001),
        ("3/0 is undefined", None),
        ("no numbers here", None),
        ("", None),
        ("v2 is better", None),  # digits inside a word are not a number
    ],
)
def test_extract_number(output: str, expected: float | None) -> None:
    got = extract_number(output)
    assert got == pytest.approx(expected) if expected is not None else got is None


@pytest.mark.parametrize(
    "output, target, spec, expected, extracted",
    [
        ("So the total is 1,234 dollars.", "1234", {}, 1.0, "1234"),
        ("Step 1: 6*3 = 18\n#### 18", "18", {}, 1.0, "18"),
        ("The answer is 0.3333", "1/3", {}, 0.0, "0.3333"),
        ("The answer is 0.3333", "1/3", {"tolerance": 1e-3}, 1.0, "0.3333"),
        ("About 1010", "1000", {"relative_tolerance": 0.02}, 1.0, "1010"),
        ("About 1030", "1000", {"relative_tolerance": 0.02}, 0.0, "1030"),
        ("", "42", {}, 0.0, None),
        ("I can't tell.", "42", {}, 0.0, None),
    ],
)
def test_numeric(output: str, target: str, spec: dict, expected: float, extracted: str | None) -> None:
    result = score({"type": "numeric", **spec}, output, target)
    assert (result.score, result.extracted) == (expected, extracted)


def test_numeric_target_without_number_scores_zero_with_feedback() -> None:
    result = score({"type": "numeric"}, "42", "forty-two")
    assert result.score == 0.0 and "no number" in (result.feedback or "")


CHECKS = """\
def as_tuple(output, target):
    return (1.0 if target in output else 0.0, f"looked for {target!r}")

def as_dict(output, target):
    return {"score": 0.5, "feedback": "half right"}

def as_bool(output, target):
    return output == target

def boom(output, target):
    raise RuntimeError("kaboom")

def too_big(output, target):
    return 2

def wrong_type(output, target):
    return "yes"

NOT_A_FUNCTION = 3
"""


@pytest.fixture
def checks_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "checks.py").write_text(CHECKS, encoding="utf-8")
    return folder


def python_metric(ref: str, folder: Path) -> Metric:
    return build_metric(MetricSpec(type="python", function=ref), base_dir=folder, file="scenarios/x.yaml")


@pytest.mark.parametrize(
    "name, output, target, expected, feedback",
    [
        ("as_tuple", "the cat sat", "cat", 1.0, "looked for 'cat'"),
        ("as_tuple", "the dog sat", "cat", 0.0, "looked for 'cat'"),
        ("as_dict", "x", "y", 0.5, "half right"),
        ("as_bool", "same", "same", 1.0, None),
    ],
)
def test_python_metric_from_file(
    checks_dir: Path, name: str, output: str, target: str, expected: float, feedback: str | None
) -> None:
    metric = python_metric(f"checks.py:{name}", checks_dir)
    assert metric.name == f"python:checks.py:{name}"
    result = metric(output, target)
    assert (result.score, result.feedback) == (expected, feedback)


@pytest.mark.parametrize(
    "name, says",
    [("boom", "RuntimeError: kaboom"), ("too_big", "outside 0..1"), ("wrong_type", "expected a number")],
)
def test_python_metric_misbehaving_scores_zero_and_says_why(checks_dir: Path, name: str, says: str) -> None:
    result = python_metric(f"checks.py:{name}", checks_dir)("out", "target")
    assert result.score == 0.0
    assert result.feedback is not None and result.feedback.startswith("metric error:") and says in result.feedback


def test_python_metric_from_importable_module() -> None:
    metric = build_metric(MetricSpec(type="python", function="operator:eq"))
    assert metric("a", "a").score == 1.0 and metric("a", "b").score == 0.0


def test_two_files_with_the_same_name_do_not_shadow_each_other(tmp_path: Path) -> None:
    for name, value in (("a", 0.25), ("b", 0.75)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "checks.py").write_text(f"def score(o, t):\n    return {value}\n", encoding="utf-8")
    first = python_metric("checks.py:score", tmp_path / "a")
    second = python_metric("checks.py:score", tmp_path / "b")
    assert (first("", "").score, second("", "").score) == (0.25, 0.75)


@pytest.mark.parametrize(
    "ref, says",
    [
        ("missing.py:score", "file not found"),
        ("checks.py:nope", "has no function 'nope'"),
        ("checks.py:NOT_A_FUNCTION", "non-callable 'NOT_A_FUNCTION'"),
        ("no_such_module_xyz:score", "cannot import module 'no_such_module_xyz'"),
        ("operator:nope", "has no function 'nope'"),
    ],
)
def test_python_metric_that_cannot_load_is_a_config_error(checks_dir: Path, ref: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        python_metric(ref, checks_dir)
    err = info.value
    assert err.file == "scenarios/x.yaml" and err.key == "metric.function"
    assert says in str(err) and str(err).startswith("scenarios/x.yaml: metric.function: ")


def test_python_file_that_fails_to_import_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def score(:\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"importing .*broken\.py failed: SyntaxError"):
        python_metric("broken.py:score", tmp_path)


@pytest.mark.parametrize(
    "spec, says",
    [
        ({"type": "label"}, "type 'label' needs 'labels'"),
        ({"type": "label", "labels": []}, "type 'label' needs 'labels'"),
        ({"type": "label", "labels": ["yes", "!!"]}, "empty once punctuation"),
        ({"type": "label", "labels": ["Yes", "yes."]}, "same once normalized"),
        ({"type": "regex"}, "type 'regex' needs 'pattern'"),
        ({"type": "regex", "pattern": "(unclosed"}, "not a valid regular expression"),
        ({"type": "python"}, "'module:function' or 'file.py:function'"),
        ({"type": "python", "function": "checks.py"}, "'module:function' or 'file.py:function'"),
        ({"type": "python", "function": "checks.py:"}, "'module:function' or 'file.py:function'"),
        ({"type": "exact", "labels": ["a"]}, "'labels' only applies to type 'label'"),
        ({"type": "numeric", "tolerance": -1}, "greater than or equal to 0"),
        ({"type": "fuzzy"}, "Input should be"),
        ({"type": "exact", "lables": ["a"]}, "Extra inputs are not permitted"),
    ],
)
def test_spec_validation(spec: dict, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        MetricSpec(**spec)


def test_bad_spec_in_yaml_names_file_key_and_line(tmp_path: Path) -> None:
    class Holder(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str
        metric: MetricSpec

    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        name: s
        metric:
          type: label
    """), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_model(path, Holder)
    assert info.value.key == "metric" and info.value.line == 2
    assert "needs 'labels'" in str(info.value)


def test_spec_round_trips_through_dump() -> None:
    spec = MetricSpec(type="numeric", tolerance=0.01)
    assert MetricSpec.model_validate(spec.model_dump()) == spec


@pytest.mark.parametrize("kind", ["exact", "contains", "numeric"])
def test_every_metric_has_a_name_and_meets_the_protocol(kind: str) -> None:
    metric = build_metric(MetricSpec(type=kind))
    assert isinstance(metric, Metric) and metric.name == kind
