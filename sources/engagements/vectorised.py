"""The request builders over a whole table at once, in an in-memory DuckDB.

builders.py is the specification: one record in, one request (or rejection) out. This module
computes the same bytes for a table of canonical records with SQL, calling Python only on small
or cached sets (distinct phone numbers for titles, distinct dispositions and owner emails,
distinct media URL hosts). Rows the SQL does not cover exactly go back to builders.py: the
`plain` condition below lists what the SQL covers, and tests/unit/test_vectorised.py checks,
on hypothesis-generated records, that every plain row gets the bytes builders.py gives.

Pure: no files, no network (an in-memory DuckDB is a compute engine here).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements import requests_sql, rules, rules_sql, titles
from sources.engagements.builders import call_outcome
from sources.engagements.media_access import needs_auth_host
from sources.engagements.media_url import check_media_url
from sources.engagements.settings import BuildSettings

# A media URL whose check depends on its host alone: https, a lower-case DNS name (no address,
# port or credentials), a path of URI-safe characters, no query or fragment. canonical_url leaves it
# as it is. Anything else is checked by builders.py, row by row.
SAFE_URL = r"https://((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63})(/[A-Za-z0-9/%:@!$&'()*+,;=._~-]*)?"
_UPPER_HEX_ESCAPED = re.compile(r"[\x0b\x0e-\x1f]")  # DuckDB writes \u001F, orjson \u001f
_PRINTABLE = r"[!-~]"  # an ASCII character that Python's str.strip() keeps
_ASCII_WORD = r"[!-~]*"  # a value whose case and spaces work the same in Python and SQL


TARGET_SQL = {"v1": requests_sql.V1, "v2": requests_sql.V2}
REQUEST_COLUMNS = [
    "external_id", "job", "kind", "source_system", "started_at", "body", "content_hash", "warnings"
]  # fmt: skip
REJECTION_COLUMNS = ["reason", "field", "message", "external_id", "source_system", "source_file",
                     "source_row"]  # fmt: skip


@dataclass(frozen=True)
class Built:
    """What the SQL built: per target the requests and the rejections (both REQUEST_SCHEMA /
    rejection dict columns), the records' content hashes, and which rows it left to Python."""

    requests: dict[str, pa.Table]
    rejections: pa.Table
    record_hashes: pa.Array  # aligned with the input rows; null where `plain` is false
    plain: pa.Array  # bool per input row


def build(records: pa.Table, settings: BuildSettings, job: str, targets: tuple[str, ...]) -> Built:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("records", records)
        values = _constants(settings)
        con.execute(_render(requests_sql.BASE, values))
        counterparts = con.execute("SELECT DISTINCT counterpart FROM base").fetchall()
        con.register("phones", _phone_table([c for (c,) in counterparts if c]))
        con.register("dispositions", _disposition_table(records, settings))
        con.register("owners", _owner_table(records, settings))
        con.register("hosts", _host_table(records, settings))
        con.execute(_render(requests_sql.SETUP, values))
        # The record hashes and each target's requests in parallel, one cursor each: a
        # partition is one DuckDB row group, which a single query scans on a single thread.
        queries = {
            "hashes": (
                "SELECT plain, CASE WHEN plain THEN sha256(record_json) END AS record_hash "
                "FROM r ORDER BY rid",
                [],
            ),
            **{
                target: (
                    "SELECT *, CASE WHEN reason IS NULL THEN sha256(body) END AS content_hash "
                    f"FROM ({_render(TARGET_SQL[target], values)})",
                    [job],
                )
                for target in targets
            },
        }
        with ThreadPoolExecutor(len(queries)) as pool:
            fetched = pool.map(lambda query: _fetch(con, *query), queries.values())
            results = dict(zip(queries, fetched, strict=True))
        hashes = results["hashes"]
        requests = {}
        rejections = []
        for target in targets:
            out = results[target]
            refused = pc.is_valid(out["reason"])
            requests[target] = out.filter(pc.invert(refused)).select(REQUEST_COLUMNS)
            rejected = out.filter(refused)
            rejections.append(
                pa.table(
                    {
                        "rejection_id": pc.binary_join_element_wise(
                            target, rejected["external_id"], ":"
                        ),
                        "job": rejected["job"],
                        "target": pa.array([target] * rejected.num_rows, pa.string()),
                        **{c: rejected[c] for c in REJECTION_COLUMNS},
                        "raw": pa.nulls(rejected.num_rows, pa.string()),
                    }
                )
            )
        return Built(
            requests,
            pa.concat_tables(rejections) if rejections else pa.table({}),
            hashes.column("record_hash").combine_chunks(),
            hashes.column("plain").combine_chunks(),
        )
    finally:
        con.close()


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list[str]) -> pa.Table:
    cursor = con.cursor()
    try:
        cursor.execute("SET TimeZone = 'UTC'")
        return cursor.execute(sql, params).to_arrow_table()
    finally:
        cursor.close()


def _render(sql: str, values: dict[str, str]) -> str:
    """{name} placeholders filled in (only known names: SQL braces stay as they are)."""
    return re.sub(r"\{([a-z_0-9]+)\}", lambda m: values.get(m.group(1), m.group(0)), sql)


def _constants(settings: BuildSettings) -> dict[str, str]:
    return {
        **_rule_sql(),
        "allow_unassociated": "true" if settings.allow_unassociated else "false",
        "is_private": "NULL" if settings.is_private is None else str(settings.is_private).lower(),
        "source_system": rules_sql.literal(settings.source_system[: rules.V2_SOURCE_SYSTEM_LIMIT]),
        "no_contact_map": "true"
        if not settings.contacts.by_phone and not settings.contacts.by_email
        else "false",
        "source_system_plain": "false"
        if _UPPER_HEX_ESCAPED.search(settings.source_system)
        else "true",
    }


@lru_cache(maxsize=1)
def _rule_sql() -> dict[str, str]:
    """rules.py rendered once: the targets' checks and words, titles, limits, patterns."""
    # a media URL check's verdict comes from the hosts table, after the table's own checks
    url_check = ("url_code IS NOT NULL", "url_code", "'recording_url'", "url_message")
    return {
        **rules_sql.target_values(rules.V1),
        **rules_sql.target_values(rules.V2, [url_check]),
        "title_case": rules_sql.title_case("n.title", "n.kind", "n.direction", "other"),
        "v1_body_limit": str(rules.V1_BODY_LIMIT),
        "v2_title_limit": str(rules.V2_TITLE_LIMIT),
        "v2_transcript_chars": str(rules.V2_TRANSCRIPT_CHARS),
        "e164": rules.E164_PATTERN,
        "safe_url_sql": SAFE_URL.replace("'", "''"),
        "printable": _PRINTABLE,
        "ascii_word": _ASCII_WORD,
        "space": r"[ \t\n\r\x0b\x0c\x1c-\x1f]",  # ASCII whitespace as str.strip() sees it
    }


def _distinct(values: pa.ChunkedArray | pa.Array) -> list[str]:
    return [v for v in pc.unique(values).to_pylist() if v]


def _phone_table(phones: list[str]) -> pa.Table:
    """display_phone of each distinct counterpart number (phonenumbers is the slow part)."""
    return pa.table(
        {
            "phone": pa.array(phones, pa.string()),
            "display": [titles.display_phone(p) for p in phones],
        }
    )


def _disposition_table(records: pa.Table, settings: BuildSettings) -> pa.Table:
    values = _distinct(records["disposition"])
    outcomes = []
    unmapped = []
    for value in values:
        warnings: list[str] = []
        outcomes.append(call_outcome(value, settings, warnings))
        unmapped.append(bool(warnings))
    return pa.table(
        {
            "value": pa.array(values, pa.string()),
            "outcome": pa.array(outcomes, pa.string()),
            "unmapped": pa.array(unmapped, pa.bool_()),
        }
    )


def _owner_table(records: pa.Table, settings: BuildSettings) -> pa.Table:
    emails = ["", *_distinct(records["owner_email"])]  # "" stands for no e-mail
    return pa.table(
        {
            "email": pa.array(emails, pa.string()),
            "owner_id": pa.array([settings.owners.lookup(e) for e in emails], pa.int64()),
        }
    )


_HOST = re.compile(SAFE_URL)


def _host_table(records: pa.Table, settings: BuildSettings) -> pa.Table:
    """check_media_url of each distinct host of the URLs SAFE_URL covers (same verdict for every
    URL on a host), and whether the host may need the source's credentials."""
    hosts = sorted({m.group(1) for u in _distinct_hosts(records) if (m := _HOST.fullmatch(u))})
    problems = [
        check_media_url(f"https://{h}/", settings.resolve, settings.allow_loopback_media)
        for h in hosts
    ]
    return pa.table(
        {
            "host": pa.array(hosts, pa.string()),
            "code": pa.array([p.code if p else None for p in problems], pa.string()),
            "message": pa.array([p.message if p else None for p in problems], pa.string()),
            "needs_auth": pa.array([needs_auth_host(h) for h in hosts], pa.bool_()),
        }
    )


def _distinct_hosts(records: pa.Table) -> list[str]:
    """'https://host/' for each distinct host prefix of the records' URLs."""
    prefixes = pc.extract_regex(
        pc.fill_null(records["recording_url"], ""), r"^(?P<p>https://[^/?#]*)"
    )
    return [f"{p}/" for p in _distinct(pc.struct_field(prefixes, "p"))]
