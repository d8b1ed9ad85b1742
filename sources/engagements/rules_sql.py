"""rules.py's tables rendered as DuckDB SQL expressions, for requests_sql.py's placeholders.

Nothing here decides a rule: each function turns one table of rules.py into the SQL that
applies it, so the vectorised path cannot drift from the per-row one (tests/unit/
test_request_spec.py checks both paths agree over every value of every field).
"""

from __future__ import annotations

from collections.abc import Iterable

from sources.engagements import rules
from sources.engagements.rules import Absent, Check, Holds, Message, Outside, Table, TargetRules


def literal(text: str | None) -> str:
    """A SQL string literal (NULL for None)."""
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def table_case(expr: str, table: Table) -> str:
    """CASE expr WHEN 'our word' THEN 'their word' … ELSE the default END."""
    whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in table.values.items())
    return f"CASE {expr} {whens} ELSE {literal(table.default)} END"


def condition_sql(test: Absent | Outside | Holds) -> str:
    """The SQL of one check's test (the value name is a column of the query)."""
    if isinstance(test, Absent):
        empty = f" OR {test.name}::VARCHAR = ''" if test.empty else ""
        return f"({test.name} IS NULL{empty})"
    if isinstance(test, Outside):
        return f"coalesce(NOT {test.name} BETWEEN {test.lo} AND {test.hi}, false)"
    return f"coalesce({test.name}, false)"


def message_sql(message: Message) -> str:
    """The message as a SQL string expression: literal pieces || the values' text."""
    pieces = []
    for text, name in message.parts():
        if text:
            pieces.append(literal(text))
        if name is not None:
            pieces.append(f"{name}::VARCHAR")
    return " || ".join(pieces) or "''"


def checks_case(checks: Iterable[Check], part: str, tail: Iterable[tuple[str, str]] = ()) -> str:
    """CASE WHEN <first failed test> THEN <its reason, field or message> … END; `tail` adds
    (condition, value) clauses of the SQL's own data after the table's checks."""
    whens = []
    for check in checks:
        if part == "message":
            value = message_sql(check.message)
        else:
            value = literal(check.reason if part == "reason" else check.field)
        whens.append(f"WHEN {condition_sql(check.test)} THEN {value}")
    whens += [f"WHEN {condition} THEN {value}" for condition, value in tail]
    return "CASE " + " ".join(whens) + " END"


def title_case(title: str, kind: str, direction: str, other: str) -> str:
    """titles.title_for over columns (the record's own title is plain, needing no strip)."""
    whens = [
        f"WHEN {title} IS NOT NULL THEN {title}",
        f"WHEN {kind} = 'meeting' THEN {literal(rules.MEETING_TITLE)}",
    ]
    for word, (text, joiner) in rules.CALL_TITLES.items():
        whens.append(f"WHEN {direction} = {literal(word)} THEN {_titled(text, joiner, other)}")
    text, joiner = rules.OTHER_CALL_TITLE
    return "CASE " + " ".join(whens) + f" ELSE {_titled(text, joiner, other)} END"


def _titled(text: str, joiner: str | None, other: str) -> str:
    if joiner is None:
        return literal(text)
    return f"{literal(text)} || coalesce({literal(joiner)} || {other}, '')"


def target_values(target: TargetRules, tail: Iterable[tuple[str, str, str, str]] = ()) -> dict:
    """The placeholders of one target's query: `<name>_reason`, `_field`, `_message`, `_type`,
    `_status`. `tail`: (condition, reason, field, message) SQL of checks on the SQL's own data."""
    tail = list(tail)
    prefix = target.name
    return {
        f"{prefix}_reason": checks_case(target.checks, "reason", [(c, r) for c, r, _, _ in tail]),
        f"{prefix}_field": checks_case(target.checks, "field", [(c, f) for c, _, f, _ in tail]),
        f"{prefix}_message": checks_case(target.checks, "message", [(c, m) for c, _, _, m in tail]),
        f"{prefix}_type": table_case("kind", target.engagement_type),
        f"{prefix}_status": table_case("status", target.call_status),
    }
