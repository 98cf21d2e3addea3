"""Labeled examples: reading JSONL/CSV, building inputs and targets, seeded splits, and the errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from redraft.config import DatasetSpec, Example, PACKAGE_SCENARIOS, Splits, inline_examples, load_examples, read_rows
from redraft.errors import ConfigError

SHIPPED = PACKAGE_SCENARIOS / "data"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def qa_rows(n: int, prefix: str = "q") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "question": f"What is {i} + {i}?", "answer": 2 * i} for i in range(1, n + 1)]


def spec(**kw: Any) -> DatasetSpec:
    kw.setdefault("split", {"train": 2, "dev": 1, "test": 1})
    return DatasetSpec.model_validate(kw)


def ids(examples: list[Example]) -> list[str]:
    return [e.id for e in examples]


# Reading rows


def test_read_rows_jsonl_numbers_lines_and_skips_blank_lines(isolated: Path) -> None:
    path = isolated / "d.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": 2}\n', encoding="utf-8")
    assert read_rows(path) == [(1, {"a": 1}), (4, {"a": 2})]


def test_read_rows_csv_header_is_line_one_and_quoted_newlines_keep_line_numbers(isolated: Path) -> None:
    path = isolated / "d.csv"
    path.write_text('input,target\nhello,a\n"two\nlines",b\n\nlast,c\n', encoding="utf-8")
    assert read_rows(path) == [
        (2, {"input": "hello", "target": "a"}),
        (3, {"input": "two\nlines", "target": "b"}),
        (6, {"input": "last", "target": "c"}),
    ]


def test_read_rows_refuses_other_file_types(isolated: Path) -> None:
    path = isolated / "d.txt"
    path.write_text("x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"d\.txt: unsupported file type '\.txt'; expected \.jsonl or \.csv"):
        read_rows(path)


# Building examples


def test_load_jsonl_with_id_field_and_numeric_targets(isolated: Path) -> None:
    write_jsonl(isolated / "data" / "qa.jsonl", [
        {"id": "a", "question": "Half of 5?", "answer": 2.5},
        {"id": "b", "question": "3 * 6?", "answer": 18},
        {"id": "c", "question": "Say hi", "answer": "hi"},
    ])
    s = spec(file="data/qa.jsonl", input="question", target="answer", id="id", split={"train": 3, "dev": 0, "test": 0})
    splits = load_examples(s, isolated)
    by_id = {e.id: e for e in splits.train}
    assert by_id["a"].target == "2.5" and by_id["b"].target == "18" and by_id["c"].target == "hi"
    assert by_id["b"].input == "3 * 6?"
    assert by_id["b"].fields == {"id": "b", "question": "3 * 6?", "answer": 18}
    assert splits.dev == [] and splits.test == []


def test_load_csv_with_default_ids_from_stem_and_row_number(isolated: Path) -> None:
    (isolated / "reviews.csv").write_text("input,target\nGreat!,positive\nAwful.,negative\n", encoding="utf-8")
    splits = load_examples(spec(file="reviews.csv", split={"train": 2, "dev": 0, "test": 0}), isolated)
    assert sorted((e.id, e.input, e.target) for e in splits.train) == [
        ("reviews-2", "Great!", "positive"),
        ("reviews-3", "Awful.", "negative"),
    ]


def test_template_renders_fields_into_the_input(isolated: Path) -> None:
    write_jsonl(isolated / "t.jsonl", [{"subject": "Refund", "body": "Charged twice", "team": "billing"}])
    s = spec(file="t.jsonl", template="Subject: $subject\n\n${body}", target="team", split={"train": 1, "dev": 0, "test": 0})
    (example,) = load_examples(s, isolated).train
    assert example.input == "Subject: Refund\n\nCharged twice"
    assert example.target == "billing"


def test_several_input_fields_without_template_become_labeled_lines(isolated: Path) -> None:
    write_jsonl(isolated / "t.jsonl", [{"subject": "Refund", "body": "Charged twice", "n": 3, "team": "billing"}])
    s = spec(file="t.jsonl", input=["subject", "body", "n"], target="team", split={"train": 1, "dev": 0, "test": 0})
    (example,) = load_examples(s, isolated).train
    assert example.input == "subject: Refund\nbody: Charged twice\nn: 3"


# Splitting


def test_seeded_split_is_deterministic_disjoint_and_sized(isolated: Path) -> None:
    write_jsonl(isolated / "qa.jsonl", qa_rows(20))
    s = spec(file="qa.jsonl", input="question", target="answer", id="id", split={"train": 5, "dev": 4, "test": 6, "seed": 7})
    first, again = load_examples(s, isolated), load_examples(s, isolated)
    assert first == again
    assert (len(first.train), len(first.dev), len(first.test)) == (5, 4, 6)
    all_ids = ids(first.train) + ids(first.dev) + ids(first.test)
    assert len(set(all_ids)) == 15
    other = load_examples(spec(**{**s.model_dump(), "split": {"train": 5, "dev": 4, "test": 6, "seed": 8}}), isolated)
    assert ids(other.train) + ids(other.dev) != ids(first.train) + ids(first.dev)


def test_separate_pools_carve_test_out_of_dev_disjointly(isolated: Path) -> None:
    write_jsonl(isolated / "train.jsonl", qa_rows(6, "tr"))
    write_jsonl(isolated / "dev.jsonl", qa_rows(10, "dv"))
    s = spec(train_file="train.jsonl", dev_file="dev.jsonl", input="question", target="answer", id="id",
             split={"train": 4, "dev": 5, "test": 5, "seed": 1})
    splits = load_examples(s, isolated)
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (4, 5, 5)
    assert all(i.startswith("tr") for i in ids(splits.train))
    assert all(i.startswith("dv") for i in ids(splits.dev + splits.test))
    assert not set(ids(splits.dev)) & set(ids(splits.test))
    assert splits == load_examples(s, isolated)


def test_separate_pools_with_a_test_file_and_default_pool_ids(isolated: Path) -> None:
    for name, n in (("train", 3), ("dev", 2), ("test", 4)):
        write_jsonl(isolated / f"{name}.jsonl", [{"input": f"{name} {i}", "target": "x"} for i in range(n)])
    s = spec(train_file="train.jsonl", dev_file="dev.jsonl", test_file="test.jsonl", split={"train": 3, "dev": 2, "test": 4})
    splits = load_examples(s, isolated)
    assert sorted(ids(splits.train)) == ["train-1", "train-2", "train-3"]
    assert sorted(ids(splits.dev)) == ["dev-1", "dev-2"]
    assert sorted(ids(splits.test)) == ["test-1", "test-2", "test-3", "test-4"]


def test_splits_round_trip() -> None:
    splits = Splits(train=[Example(id="a", input="i", target="t", fields={"x": 1})], dev=[], test=[])
    assert Splits.model_validate(splits.model_dump()) == splits


# The spec itself


@pytest.mark.parametrize(("kw", "message"), [
    ({}, "give 'file'"),
    ({"file": "a.jsonl", "train_file": "b.jsonl"}, "not both"),
    ({"train_file": "b.jsonl"}, "'dev_file' is missing"),
    ({"dev_file": "b.jsonl", "test_file": "c.jsonl"}, "'train_file' is missing"),
    ({"file": "a.jsonl", "input": []}, "'input' must name at least one field"),
    ({"file": "a.jsonl", "template": "Hello $"}, "invalid placeholder"),
    ({"file": "a.jsonl", "template": "Hello"}, "uses no \\$field variable"),
])
def test_spec_needs_exactly_one_source_and_sane_fields(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**kw)


def test_spec_refuses_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="extra"):
        spec(file="a.jsonl", targt="team")


# Errors


def scenario(isolated: Path) -> str:
    path = isolated / "s.yaml"
    path.write_text("name: s\ndataset:\n  file: data/missing.jsonl\n  split: {train: 1, dev: 1, test: 1}\n", encoding="utf-8")
    return str(path)


def test_missing_file_names_the_scenario_key_line_and_resolved_path(isolated: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_examples(spec(file="data/missing.jsonl"), isolated, scenario_file=scenario(isolated))
    text = str(err.value)
    assert text.startswith(f"{isolated / 's.yaml'}:3: dataset.file: file not found: ")
    assert str(isolated / "data" / "missing.jsonl") in text


def test_missing_dev_file_without_scenario_names_the_path(isolated: Path) -> None:
    write_jsonl(isolated / "train.jsonl", qa_rows(3))
    with pytest.raises(ConfigError, match=r"dev\.jsonl: dataset\.dev_file: file not found"):
        load_examples(spec(train_file="train.jsonl", dev_file="dev.jsonl"), isolated)


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_jsonl_file(isolated: Path, text: str) -> None:
    (isolated / "e.jsonl").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"e\.jsonl: the file is empty; expected one JSON object per line"):
        load_examples(spec(file="e.jsonl"), isolated)


def test_csv_with_only_a_header(isolated: Path) -> None:
    (isolated / "e.csv").write_text("input,target\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"e\.csv: the file has a header line but no rows"):
        load_examples(spec(file="e.csv"), isolated)


def test_invalid_json_names_the_line(isolated: Path) -> None:
    (isolated / "bad.jsonl").write_text('{"input": "a", "target": "b"}\n\n{"input": "c", target: "d"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:3: line is not valid JSON"):
        load_examples(spec(file="bad.jsonl"), isolated)


def test_a_json_line_that_is_not_an_object(isolated: Path) -> None:
    (isolated / "bad.jsonl").write_text('["input", "target"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:1: expected a JSON object per line, got a list"):
        load_examples(spec(file="bad.jsonl"), isolated)


def test_missing_target_names_line_field_and_present_fields(isolated: Path) -> None:
    write_jsonl(isolated / "t.jsonl", [{"subject": "a", "team": "billing"}, {"subject": "b", "teem": "sales"}])
    with pytest.raises(ConfigError) as err:
        load_examples(spec(file="t.jsonl", input="subject", target="team"), isolated)
    assert str(err.value) == f"{isolated / 't.jsonl'}:2: missing the target field 'team'; this row has: 'subject', 'teem'"
    assert err.value.line == 2


def test_missing_input_in_a_short_csv_row(isolated: Path) -> None:
    (isolated / "t.csv").write_text("target,input\npositive,Great\nnegative\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"t\.csv:3: missing the input field 'input'; this row has: 'target'"):
        load_examples(spec(file="t.csv"), isolated)


def test_csv_row_with_too_many_cells(isolated: Path) -> None:
    (isolated / "t.csv").write_text("input,target\na,b,c\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"t\.csv:2: the row has 3 cells but the header has 2 columns"):
        load_examples(spec(file="t.csv"), isolated)


def test_csv_with_an_unterminated_quote(isolated: Path) -> None:
    (isolated / "t.csv").write_text('input,target\nok,a\n"never closed,b\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"t\.csv:3: invalid CSV: unexpected end of data"):
        load_examples(spec(file="t.csv"), isolated)


def test_csv_saved_with_a_byte_order_mark(isolated: Path) -> None:
    (isolated / "t.csv").write_text("input,target\nhi,greeting\n", encoding="utf-8-sig")
    assert read_rows(isolated / "t.csv") == [(2, {"input": "hi", "target": "greeting"})]


def test_template_with_a_field_the_row_lacks(isolated: Path) -> None:
    write_jsonl(isolated / "t.jsonl", [{"subject": "a", "body": "b", "team": "x"}, {"subject": "c", "team": "y"}])
    with pytest.raises(ConfigError, match=r"t\.jsonl:2: the template uses \$body but the row has no 'body' field"):
        load_examples(spec(file="t.jsonl", template="$subject: $body", target="team"), isolated)


@pytest.mark.parametrize(("target", "kind"), [(None, "null"), (True, "true/false"), ([1], "a list"), ({"a": 1}, "an object")])
def test_target_must_be_a_string_or_number(isolated: Path, target: Any, kind: str) -> None:
    write_jsonl(isolated / "t.jsonl", [{"input": "a", "target": "ok"}, {"input": "b", "target": target}])
    with pytest.raises(ConfigError, match=rf"t\.jsonl:2: the target field 'target' must be a string or a number, got {kind}"):
        load_examples(spec(file="t.jsonl"), isolated)


def test_empty_target(isolated: Path) -> None:
    write_jsonl(isolated / "t.jsonl", [{"input": "a", "target": " "}])
    with pytest.raises(ConfigError, match=r"t\.jsonl:1: the target field 'target' is empty"):
        load_examples(spec(file="t.jsonl"), isolated)


def test_duplicate_ids_name_both_lines(isolated: Path) -> None:
    write_jsonl(isolated / "qa.jsonl", [*qa_rows(3), {"id": "q2", "question": "again", "answer": 1}])
    with pytest.raises(ConfigError, match=r"qa\.jsonl:4: duplicate id 'q2': also on line 2"):
        load_examples(spec(file="qa.jsonl", input="question", target="answer", id="id"), isolated)


def test_duplicate_ids_across_pools_name_both_files(isolated: Path) -> None:
    write_jsonl(isolated / "train.jsonl", qa_rows(3, "x"))
    write_jsonl(isolated / "dev.jsonl", [{"id": "y1", "question": "q", "answer": 1}, {"id": "x3", "question": "q", "answer": 1}])
    with pytest.raises(ConfigError) as err:
        load_examples(spec(train_file="train.jsonl", dev_file="dev.jsonl", input="question", target="answer", id="id"),
                      isolated)
    assert str(err.value) == f"{isolated / 'dev.jsonl'}:2: duplicate id 'x3': also on {isolated / 'train.jsonl'} line 3"


def test_split_larger_than_the_data_says_both_counts(isolated: Path) -> None:
    write_jsonl(isolated / "data" / "x.jsonl", qa_rows(60))
    path = isolated / "s.yaml"
    path.write_text("name: s\ndataset:\n  file: data/x.jsonl\n  split:\n    train: 30\n", encoding="utf-8")
    s = spec(file="data/x.jsonl", input="question", target="answer", split={"train": 30, "dev": 20, "test": 20})
    with pytest.raises(ConfigError) as err:
        load_examples(s, isolated, scenario_file=str(path))
    assert str(err.value) == (
        f"{path}:4: dataset.split: split asks for 30 train + 20 dev + 20 test = 70 examples but data/x.jsonl has 60"
    )


def test_split_larger_than_the_data_without_a_scenario_names_the_data_file(isolated: Path) -> None:
    write_jsonl(isolated / "x.jsonl", qa_rows(3))
    with pytest.raises(ConfigError, match=r"x\.jsonl: dataset\.split: split asks for 2 train \+ 1 dev \+ 1 test = 4"):
        load_examples(spec(file="x.jsonl", input="question", target="answer"), isolated)


@pytest.mark.parametrize(("split", "message"), [
    ({"train": 5, "dev": 1, "test": 1}, "split asks for 5 train examples but train.jsonl has 4"),
    ({"train": 4, "dev": 3, "test": 3}, "split asks for 3 dev \\+ 3 test = 6 examples \\(test is carved out of dev_file\\) "
                                         "but dev.jsonl has 5"),
])
def test_split_larger_than_separate_pools(isolated: Path, split: dict[str, int], message: str) -> None:
    write_jsonl(isolated / "train.jsonl", qa_rows(4, "t"))
    write_jsonl(isolated / "dev.jsonl", qa_rows(5, "d"))
    s = spec(train_file="train.jsonl", dev_file="dev.jsonl", input="question", target="answer", split=split)
    with pytest.raises(ConfigError, match=message):
        load_examples(s, isolated)


def test_split_larger_than_the_test_file(isolated: Path) -> None:
    for name, n in (("train", 2), ("dev", 2), ("test", 2)):
        write_jsonl(isolated / f"{name}.jsonl", qa_rows(n, name))
    s = spec(train_file="train.jsonl", dev_file="dev.jsonl", test_file="test.jsonl", input="question", target="answer",
             split={"train": 2, "dev": 2, "test": 3})
    with pytest.raises(ConfigError, match="split asks for 3 test examples but test.jsonl has 2"):
        load_examples(s, isolated)


# Inline examples


def test_inline_examples_with_default_and_given_ids() -> None:
    examples = inline_examples([{"input": "2+2?", "target": 4}, {"id": "greet", "input": "Say hi", "target": "hi"}])
    assert [(e.id, e.input, e.target) for e in examples] == [("examples-1", "2+2?", "4"), ("greet", "Say hi", "hi")]


def test_inline_errors_name_the_key_and_line(isolated: Path) -> None:
    path = isolated / "s.yaml"
    path.write_text("name: s\nexamples:\n  - {input: a, target: b}\n  - {input: c}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        inline_examples([{"input": "a", "target": "b"}, {"input": "c"}], scenario_file=str(path))
    assert str(err.value) == f"{path}:4: examples[1]: missing the target field 'target'; this row has: 'input'"


@pytest.mark.parametrize(("items", "message"), [
    ([], "examples: expected a non-empty list"),
    (["just text"], "examples\\[0\\]: expected a mapping with 'input' and 'target', got a string"),
    ([{"input": "a", "target": None}], "examples\\[0\\].target: the target field 'target' must be a string or a number"),
    ([{"id": "x", "input": "a", "target": "b"}, {"id": "x", "input": "c", "target": "d"}],
     "examples\\[1\\].id: duplicate id 'x', also used by examples\\[0\\]"),
])
def test_inline_errors(items: list[Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        inline_examples(items, scenario_file="s.yaml")


# Shipped data files


def test_shipped_tickets_load_balanced_with_known_teams() -> None:
    rows = read_rows(SHIPPED / "tickets.jsonl")
    assert len(rows) == 60
    s = spec(file="tickets.jsonl", template="Subject: $subject\n\n$body", target="team", id="id",
             split={"train": 20, "dev": 20, "test": 20})
    splits = load_examples(s, SHIPPED)
    everything = splits.train + splits.dev + splits.test
    assert len({e.id for e in everything}) == 60
    teams = [e.target for e in everything]
    assert {t: teams.count(t) for t in set(teams)} == {"billing": 15, "technical": 15, "account": 15, "sales": 15}
    assert all(set(r) == {"id", "subject", "body", "team"} for _, r in rows)


def test_shipped_word_problems_load_with_numeric_answers() -> None:
    rows = read_rows(SHIPPED / "word_problems.jsonl")
    assert len(rows) == 40
    assert all(set(r) == {"id", "question", "answer"} for _, r in rows)
    assert all(isinstance(r["answer"], (int, float)) and not isinstance(r["answer"], bool) for _, r in rows)
    s = spec(file="word_problems.jsonl", input="question", target="answer", id="id",
             split={"train": 10, "dev": 15, "test": 15})
    splits = load_examples(s, SHIPPED)
    everything = splits.train + splits.dev + splits.test
    assert len({e.id for e in everything}) == 40
    assert all(float(e.target) >= 0 for e in everything)
