"""The agreement loader: a user's file loads like a built-in, and every mistake is reported.

Each mistake class gets one test row: a small change to a valid hypothetical agreement (a
US–China launch notification arrangement that does not exist) and the problem it must produce,
naming the file, the key path and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from nrrc.catalogue import (
    FieldType,
    MeasuredAt,
    RuleType,
    Severity,
    Verified,
    builtin_paths,
    load_catalogue,
)
from nrrc.errors import CatalogueError, Problem
from nrrc.messages import MessageTypes

USCN = """\
# A hypothetical US-China ballistic missile launch notification arrangement.
schema = 1

[agreement]
id = "uscn"
code_prefix = "USCN"
title = "Hypothetical US-China Launch Notification Arrangement"
short_title = "US-China launch notices (hypothetical)"
year = 2027
regime = "bilateral"
parties = ["US", "CN"]
channel = "NRRC"

[[agreement.sources]]
title = "Design exercise, not a real agreement"
url = "https://example.org/uscn"
status = "R"

[kinds.launch_notice]
title = "Launch notice"
description = "Notice of a planned ballistic missile launch."
[kinds.launch_notice.fields]
planned_launch_at = { type = "datetime", description = "Planned launch time (UTC)." }
launch_area = { type = "string", min_length = 1, max_length = 200, description = "Where." }
stages = { type = "integer", min = 1, max = 4, required = false, description = "Stages." }

[[rules]]
code = "USCN001"
name = "uscn_launch_48h"
title = "Launch notified at least 48 hours before the planned launch"
type = "lead_time"
kind = "launch_notice"
anchor = "planned_launch_at"
bound = "48h"
status = "R"
description = "Each launch is notified at least 48 hours before it."
citation = { article = "Art. 1 (hypothetical)", url = "https://example.org/uscn" }

[[rules]]
code = "USCN002"
name = "uscn_launch_ack_1h"
title = "Launch notice acknowledged within one hour"
type = "response"
trigger = "launch_notice"
response = "core.ack"
bound = "1h"
status = "R"
description = "Each launch notice is acknowledged within one hour."
citation = { article = "Art. 2 (hypothetical)" }
"""


CITATION_1 = 'citation = { article = "Art. 1 (hypothetical)", url = "https://example.org/uscn" }'
DESCRIPTION_1 = 'description = "Each launch is notified at least 48 hours before it."'


def condition(group: str, field: str, op: str, value: str = "2") -> str:
    """An ``applies_if`` line with one condition (``value`` in TOML syntax)."""
    return f'applies_if = {{ {group} = [ {{ field = "{field}", op = "{op}", value = {value} }} ] }}'


def write(directory: Path, text: str, name: str = "uscn.toml") -> Path:
    """Write an agreement file and return its path."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def another_agreement(text: str) -> str:
    """The same arrangement under another id, code prefix and rule names (no clash)."""
    text = text.replace('id = "uscn"', 'id = "uscb"').replace("USCN", "USCB")
    return text.replace('name = "uscn_', 'name = "uscb_')


def problems_of(*paths: Path) -> list[Problem]:
    """The problems the loader reports for these files (failing if it reports none)."""
    with pytest.raises(CatalogueError) as info:
        load_catalogue(paths)
    return list(info.value.problems)


def replace(old: str, new: str) -> Callable[[str], str]:
    """An edit of the valid file; fails loudly if ``old`` is not in it."""

    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


# (test id, edit of the valid file, key path, a regular expression the reason must match)
MISTAKES: list[tuple[str, Callable[[str], str], str, str]] = [
    (
        "unknown-kind",
        replace('kind = "launch_notice"', 'kind = "launch_notise"'),
        "rules[0].kind",
        r"unknown kind 'uscn\.launch_notise' \(did you mean 'uscn\.launch_notice'\?\)",
    ),
    (
        "unknown-trigger-kind",
        replace('trigger = "launch_notice"', 'trigger = "notice"'),
        "rules[1].trigger",
        r"unknown kind 'uscn\.notice'",
    ),
    (
        "unknown-field",
        replace('anchor = "planned_launch_at"', 'anchor = "planned_launch"'),
        "rules[0].anchor",
        r"unknown field 'planned_launch' of kind 'uscn\.launch_notice'; its fields are: "
        r"planned_launch_at, launch_area, stages",
    ),
    (
        "anchor-of-wrong-type",
        replace('anchor = "planned_launch_at"', 'anchor = "launch_area"'),
        "rules[0].anchor",
        r"field 'launch_area' .* is a string; this rule needs a date or datetime field",
    ),
    (
        "bad-duration",
        replace('bound = "48h"', 'bound = "48 fortnights"'),
        "rules[0].bound",
        r"bad duration: expected a duration such as '24h'.*found '48 fortnights'",
    ),
    (
        "duration-not-a-string",
        replace('bound = "48h"', "bound = 48"),
        "rules[0].bound",
        r"bad duration: expected a string such as '24h' or '14d', found integer 48",
    ),
    (
        "zero-duration",
        replace('bound = "48h"', 'bound = "0h"'),
        "rules[0].bound",
        r"expected a positive length",
    ),
    (
        "missing-citation",
        replace(f"{CITATION_1}\n", ""),
        "rules[0].citation",
        r"missing citation: expected a table with at least 'article'",
    ),
    (
        "citation-without-article",
        replace('citation = { article = "Art. 2 (hypothetical)" }', 'citation = { url = "x" }'),
        "rules[1].citation.article",
        r"missing: expected a string",
    ),
    (
        "unknown-key-did-you-mean",
        replace('bound = "48h"', 'bound = "48h"\nmeasured_att = "sending"'),
        "rules[0].measured_att",
        r"unknown key \(did you mean 'measured_at'\?\); expected one of: ",
    ),
    (
        "unknown-agreement-key",
        replace('channel = "NRRC"', 'channel = "NRRC"\nstatuss = "in force"'),
        "agreement.statuss",
        r"unknown key \(did you mean 'status'\?\)",
    ),
    (
        "bad-status-code",
        replace(f'status = "R"\n{DESCRIPTION_1}', f'status = "X"\n{DESCRIPTION_1}'),
        "rules[0].status",
        r"expected the verification status code from AGREEMENTS\.md, one of V, V-ru, V-hu, S, R, "
        r"found string 'X'",
    ),
    (
        "bad-severity",
        replace('bound = "48h"', 'bound = "48h"\nseverity = "fatal"'),
        "rules[0].severity",
        r"expected one of 'violation', 'warning', found string 'fatal'",
    ),
    (
        "unknown-rule-type",
        replace('type = "lead_time"', 'type = "deadline"'),
        "rules[0].type",
        r"expected one of 'lead_time', 'lag', 'response'.*found string 'deadline'",
    ),
    (
        "missing-rule-parameter",
        replace('anchor = "planned_launch_at"\n', ""),
        "rules[0].anchor",
        r"missing: a lead_time rule needs 'anchor'",
    ),
    (
        "bad-rule-code",
        replace('code = "USCN001"', 'code = "uscn-1"'),
        "rules[0].code",
        r"bad rule code: expected 2-6 capital letters and 3 digits",
    ),
    (
        "code-with-other-prefix",
        replace('code = "USCN001"', 'code = "BML901"'),
        "rules[0].code",
        r"rule codes of this agreement start with 'USCN', found 'BML901'",
    ),
    (
        "duplicate-code-in-one-file",
        replace('code = "USCN002"', 'code = "USCN001"'),
        "rules[1].code",
        r"duplicate rule code 'USCN001', already used in .*uscn\.toml rules\[0\]",
    ),
    (
        "duplicate-agreement-id-with-builtin",
        replace('id = "uscn"', 'id = "bmlna"'),
        "agreement.id",
        r"duplicate agreement id 'bmlna', already defined in .*bmlna\.toml",
    ),
    (
        "unknown-field-type",
        replace('{ type = "string", min_length', '{ type = "text", min_length'),
        "kinds.launch_notice.fields.launch_area.type",
        r"expected one of 'string', 'integer'.*found string 'text'",
    ),
    (
        "wrong-type-for-a-field-key",
        replace("min = 1, max = 4", 'min = "one", max = 4'),
        "kinds.launch_notice.fields.stages.min",
        r"expected a number, found string 'one'",
    ),
    (
        "fractional-bound-on-integer",
        replace("min = 1, max = 4", "min = 1.5, max = 4"),
        "kinds.launch_notice.fields.stages.min",
        r"expected an integer bound for an integer field, found number 1\.5",
    ),
    (
        "min-above-max",
        replace("min = 1, max = 4", "min = 5, max = 4"),
        "kinds.launch_notice.fields.stages",
        r"min 5\.0 is greater than max 4\.0",
    ),
    (
        "negative-length",
        replace("min_length = 1,", "min_length = -1,"),
        "kinds.launch_notice.fields.launch_area.min_length",
        r"expected zero or more, found integer -1",
    ),
    (
        "constraint-for-another-type",
        replace("min_length = 1,", "min_items = 1, min_length = 1,"),
        "kinds.launch_notice.fields.launch_area.min_items",
        r"'min_items' does not apply to a string field",
    ),
    (
        "enum-without-values",
        replace('{ type = "integer", min = 1, max = 4,', '{ type = "enum",'),
        "kinds.launch_notice.fields.stages.values",
        r"an enum needs 'values', a non-empty array of strings, found nothing",
    ),
    (
        "header-field-name",
        replace("stages = {", "seq = {"),
        "kinds.launch_notice.fields.seq",
        r"'seq' is an envelope header field; choose another name",
    ),
    (
        "bad-regular-expression",
        replace("min_length = 1,", 'pattern = "[A-Z",'),
        "kinds.launch_notice.fields.launch_area.pattern",
        r"bad regular expression",
    ),
    (
        "python-only-regular-expression",
        replace("min_length = 1,", 'pattern = "^[A-Z]+\\\\Z",'),
        "kinds.launch_notice.fields.launch_area.pattern",
        r"expected an ECMA-262 regular expression \(JSON Schema's dialect\), found the "
        r"Python-only '\\\\Z'",
    ),
    (
        "bad-party",
        replace('parties = ["US", "CN"]', 'parties = ["US", "china"]'),
        "agreement.parties[1]",
        r"expected a centre id .* found 'china'",
    ),
    (
        "missing-year",
        replace("year = 2027\n", ""),
        "agreement.year",
        r"missing: expected the year the agreement was signed",
    ),
    (
        "wrong-format-version",
        replace("schema = 1", "schema = 2"),
        "schema",
        r"expected the catalogue format version 1, found integer 2",
    ),
    (
        "bad-condition-operator",
        replace('bound = "48h"', 'bound = "48h"\n' + condition("any", "stages", "=>")),
        "rules[0].applies_if.any[0].op",
        r"expected one of >=, >, <=, <, ==, !=, in, found string '=>'",
    ),
    (
        "condition-value-of-wrong-type",
        replace('bound = "48h"', 'bound = "48h"\n' + condition("any", "stages", ">=", '"2"')),
        "rules[0].applies_if",
        r"condition 'stages >= '2'': field 'stages' holds integer values, found string '2'",
    ),
    (
        "in-without-an-array",
        replace('bound = "48h"', 'bound = "48h"\n' + condition("any", "stages", "in")),
        "rules[0].applies_if.any[0].value",
        r"'in' compares with an array of values, found integer 2",
    ),
    (
        "condition-on-unknown-field",
        replace('bound = "48h"', 'bound = "48h"\n' + condition("all", "stage", ">=")),
        "rules[0].applies_if",
        r"unknown field 'stage' of kind 'uscn\.launch_notice'",
    ),
]


@pytest.mark.parametrize(
    ("edit", "key_path", "reason"),
    [pytest.param(edit, key, reason, id=name) for name, edit, key, reason in MISTAKES],
)
def test_each_mistake_is_reported_with_file_key_path_and_reason(
    tmp_path: Path, edit: Callable[[str], str], key_path: str, reason: str
) -> None:
    """One mistake in an otherwise valid file gives one problem naming file, key and reason."""
    path = write(tmp_path, edit(USCN))
    problems = problems_of(path)
    assert [(p.file, p.path) for p in problems] == [(str(path), key_path)], problems
    assert re.search(reason, problems[0].message), problems[0].message


def test_the_valid_file_used_above_loads(tmp_path: Path) -> None:
    """The control for the mistake table: the unedited file has no problem."""
    cat = load_catalogue([write(tmp_path, USCN)])
    assert "uscn" in cat.agreements


def test_malformed_toml_names_the_line(tmp_path: Path) -> None:
    """A TOML syntax error is reported with the file and the line and column where it is."""
    path = write(tmp_path, USCN.replace("[kinds.launch_notice]", "[kinds.launch_notice", 1))
    (problem,) = problems_of(path)
    assert problem.file == str(path)
    line = USCN.splitlines().index("[kinds.launch_notice]") + 1
    assert re.search(rf"malformed TOML: .*\(at line {line}, column \d+\)", problem.message)


def test_a_file_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give one problem with the offset, not a traceback."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(USCN.replace("Hypothetical", "Hypoth\xe9tical").encode("latin-1"))
    (problem,) = problems_of(path)
    assert "expected UTF-8 text, found an invalid byte at offset" in problem.message


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    """A path that does not exist is one problem naming it."""
    (problem,) = problems_of(tmp_path / "nowhere.toml")
    assert problem.file == str(tmp_path / "nowhere.toml")
    assert problem.message.startswith("cannot read the file")


def test_every_mistake_in_one_file_is_reported_at_once(tmp_path: Path) -> None:
    """Several mistakes, in the header, a kind and two rules, all come back from one load."""
    text = USCN
    for name, edit, _, _ in MISTAKES:
        if name in {
            "unknown-agreement-key",
            "unknown-field-type",
            "negative-length",
            "bad-duration",
            "bad-status-code",
            "duplicate-code-in-one-file",
            "citation-without-article",
            "unknown-field",
        }:
            text = edit(text)
    path = write(tmp_path, text)
    found = {p.path for p in problems_of(path)}
    assert found == {
        "agreement.statuss",
        "kinds.launch_notice.fields.launch_area.type",
        "kinds.launch_notice.fields.launch_area.min_length",
        "rules[0].bound",
        "rules[0].status",
        "rules[0].anchor",
        "rules[1].code",
        "rules[1].citation.article",
    }


def test_a_rule_with_a_bad_type_still_has_its_other_keys_checked(tmp_path: Path) -> None:
    """An unknown rule type does not hide a bad duration or a misspelt key of the same rule."""
    text = USCN.replace('type = "lead_time"', 'type = "deadline"', 1)
    text = text.replace('bound = "48h"', 'bound = "two days"\nancor = "x"', 1)
    found = {p.path for p in problems_of(write(tmp_path, text))}
    assert found == {"rules[0].type", "rules[0].bound", "rules[0].ancor"}


def test_problems_in_several_files_are_all_reported_grouped_by_file(tmp_path: Path) -> None:
    """Two broken files: every problem of each, grouped by file in the order given."""
    first = write(tmp_path, USCN.replace('bound = "48h"', 'bound = "2 weeks"', 1), "a.toml")
    second_text = another_agreement(USCN).replace(
        f'status = "R"\n{DESCRIPTION_1}', f'status = "Q"\n{DESCRIPTION_1}'
    )
    second = write(tmp_path, second_text, "b.toml")
    problems = problems_of(second, first)
    assert [(Path(p.file).name, p.path) for p in problems] == [
        ("b.toml", "rules[0].status"),
        ("a.toml", "rules[0].bound"),
    ]


def test_duplicate_rule_code_across_files_names_both_files(tmp_path: Path) -> None:
    """A code used in two files is reported in the second, naming where it was first used."""
    first = write(tmp_path, USCN, "a.toml")
    second_text = another_agreement(USCN).replace('code = "USCB001"', 'code = "USCN001"')
    second_text = second_text.replace('code = "USCB002"', 'code = "USCN003"')
    second_text = second_text.replace('code_prefix = "USCB"', 'code_prefix = "USCN"')
    second = write(tmp_path, second_text, "b.toml")
    problems = problems_of(first, second)
    assert [(Path(p.file).name, p.path) for p in problems] == [
        ("b.toml", "agreement.code_prefix"),
        ("b.toml", "rules[0].code"),
    ]
    assert re.search(
        r"duplicate rule code 'USCN001', already used in .*a\.toml rules\[0\]$",
        problems[1].message,
    )


def test_problem_text_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    """``str(problem)`` is ``file: key path: reason`` on one line, ready to print."""
    path = write(tmp_path, USCN.replace('bound = "48h"', 'bound = "soon"', 1))
    (problem,) = problems_of(path)
    assert str(problem) == f"{path}: rules[0].bound: {problem.message}"
    assert "\n" not in str(problem)


def test_a_user_file_loads_exactly_like_a_builtin(tmp_path: Path) -> None:
    """The hypothetical agreement's kinds, fields and rules are typed like the built-ins'."""
    cat = load_catalogue([write(tmp_path, USCN)])
    agreement = cat.agreements["uscn"]
    assert not agreement.builtin
    assert agreement.parties == ("US", "CN")
    kind = cat.kind("uscn.launch_notice")
    spec = kind.field("stages")
    assert spec is not None
    assert (spec.type, spec.required, spec.minimum, spec.maximum) == (
        FieldType.INTEGER,
        False,
        1,
        4,
    )
    rule = cat.rule("USCN001")
    assert rule is not None
    assert (rule.type, rule.kind, rule.anchor, str(rule.bound)) == (
        RuleType.LEAD_TIME,
        "uscn.launch_notice",
        "planned_launch_at",
        "48h",
    )
    assert (rule.severity, rule.measured_at, rule.verified) == (
        Severity.VIOLATION,
        MeasuredAt.RECEIPT,
        Verified.UNVERIFIED,
    )
    ack = cat.rule("uscn_launch_ack_1h")
    assert ack is not None
    assert (ack.trigger, ack.response) == ("uscn.launch_notice", "core.ack")
    assert set(cat.agreements) > {"bmlna", "core", "uscn"}


def test_a_user_kind_gets_a_message_type(tmp_path: Path) -> None:
    """Statements of a user's kind decode and enforce its constraints like built-in kinds."""
    types = MessageTypes(load_catalogue([write(tmp_path, USCN)]))
    assert "uscn.launch_notice" in types.statements
    payload = types.payload(
        "uscn.launch_notice", planned_launch_at="2027-05-01T06:00:00Z", launch_area="Jiuquan"
    )
    assert payload.launch_area == "Jiuquan"  # type: ignore[attr-defined]


def test_a_directory_loads_every_toml_file_in_it(tmp_path: Path) -> None:
    """``--agreements DIR`` loads each ``*.toml`` inside."""
    write(tmp_path, USCN)
    assert "uscn" in load_catalogue([tmp_path]).agreements


def test_an_empty_directory_is_a_problem(tmp_path: Path) -> None:
    """A directory without agreement files is reported instead of silently ignored."""
    (problem,) = problems_of(tmp_path)
    assert problem.message == "no *.toml agreement files in this directory"


def test_builtins_can_be_left_out(tmp_path: Path) -> None:
    """With ``builtins=False`` only the given files are loaded (a rule may still name core)."""
    text = USCN.replace('response = "core.ack"', 'response = "launch_notice"')
    cat = load_catalogue([write(tmp_path, text)], builtins=False)
    assert list(cat.agreements) == ["uscn"]


def test_every_builtin_file_is_found() -> None:
    """The shipped agreement files are found inside the package, sorted by name."""
    names = [p.name for p in builtin_paths()]
    assert names == sorted(names)
    assert {"core.toml", "bmlna.toml"} <= set(names)
