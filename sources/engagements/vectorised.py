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

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from sources.engagements import titles
from sources.engagements.builders import V1_BODY_LIMIT, call_outcome
from sources.engagements.media_access import needs_auth_host
from sources.engagements.media_url import check_media_url
from sources.engagements.settings import BuildSettings

# A media URL whose check depends on its host alone: https, a lower-case DNS name (no address,
# port or credentials), a path of URI-safe characters, no query or fragment. as_uri leaves it
# as it is. Anything else is checked by builders.py, row by row.
SAFE_URL = r"https://((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63})(/[A-Za-z0-9/%:@!$&'()*+,;=._~-]*)?"
_UPPER_HEX_ESCAPED = re.compile(r"[\x0b\x0e-\x1f]")  # DuckDB writes \u001F, orjson \u001f
_PRINTABLE = r"[!-~]"  # an ASCII character that Python's str.strip() keeps
_ASCII_WORD = r"[!-~]*"  # a value whose case and spaces work the same in Python and SQL


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
        con.execute(_render(_BASE, values))
        counterparts = con.execute("SELECT DISTINCT counterpart FROM base").fetchall()
        con.register("phones", _phone_table([c for (c,) in counterparts if c]))
        con.register("dispositions", _disposition_table(records, settings))
        con.register("owners", _owner_table(records, settings))
        con.register("hosts", _host_table(records, settings))
        con.execute(_render(_SETUP, values))
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
                    f"FROM ({_render(_V1 if target == 'v1' else _V2, values)})",
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
        "allow_unassociated": "true" if settings.allow_unassociated else "false",
        "is_private": "NULL" if settings.is_private is None else str(settings.is_private).lower(),
        "source_system": _literal(settings.source_system[:100]),
        "v1_body_limit": str(V1_BODY_LIMIT),
        "no_contact_map": "true"
        if not settings.contacts.by_phone and not settings.contacts.by_email
        else "false",
        "safe_url_sql": SAFE_URL.replace("'", "''"),
        "source_system_plain": "false"
        if _UPPER_HEX_ESCAPED.search(settings.source_system)
        else "true",
        "printable": _PRINTABLE,
        "ascii_word": _ASCII_WORD,
        "space": r"[ \t\n\r\x0b\x0c\x1c-\x1f]",  # ASCII whitespace as str.strip() sees it
    }


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


# base: the records with a row id, the other party's number (for the title), the media URL's
# host (when SAFE_URL covers it) and the JSON text the record's content hash is taken of
# (outputs.record_hash: every field but provenance, keys sorted, nulls kept).
_BASE = r"""
CREATE MACRO iso(t) AS
    strftime(t, '%Y-%m-%dT%H:%M:%S')
    || CASE WHEN epoch_us(t) % 1000000 = 0 THEN ''
            ELSE '.' || lpad(((epoch_us(t) % 1000000 + 1000000) % 1000000)::VARCHAR, 6, '0') END
    || '+00:00';
CREATE MACRO e164(p) AS regexp_full_match(p, '\+[1-9][0-9]{1,14}');
CREATE MACRO ids(l) AS to_json(coalesce(l, []::BIGINT[]));

CREATE VIEW base AS
    SELECT row_number() OVER () - 1 AS rid, *,
           CASE WHEN direction = 'outbound'
                THEN CASE WHEN to_phone <> '' THEN to_phone ELSE to_phone_raw END
                ELSE CASE WHEN from_phone <> '' THEN from_phone ELSE from_phone_raw END
           END AS counterpart,
           -- (owner_email or "").strip().lower(), for the ASCII e-mails the SQL covers
           lower(regexp_replace(coalesce(owner_email, ''),
                                '^{space}+|{space}+$', '', 'g')) AS owner_key,
           regexp_extract(recording_url, '^{safe_url_sql}$', 1) AS url_host,
           json_object(
               'body', body, 'company_ids', to_json(company_ids),
               'contact_ids', to_json(contact_ids), 'deal_ids', to_json(deal_ids),
               'direction', direction, 'disposition', disposition, 'duration_ms', duration_ms,
               'ended_at', iso(ended_at), 'external_id', external_id,
               'from_phone', from_phone, 'from_phone_raw', from_phone_raw, 'kind', kind,
               'owner_email', owner_email,
               'participants', to_json(list_transform(participants, p -> {'email': p.email,
                   'is_owner': p.is_owner, 'name': p.name, 'phone': p.phone})),
               'recording_url', recording_url, 'source_id', source_id,
               'source_system', source_system, 'started_at', iso(started_at),
               'status', status, 'status_raw', status_raw, 'title', title,
               'to_phone', to_phone, 'to_phone_raw', to_phone_raw,
               'transcript_text', transcript_text)::VARCHAR AS record_json
    FROM records
"""

# r: what the SQL needs of each record, and whether it covers the record exactly (plain).
_SETUP = r"""
CREATE TABLE r AS
WITH named AS (
    SELECT base.*,
           (list_filter(participants, p -> p.name <> '' AND NOT coalesce(p.is_owner, false)
                        AND p.phone IS NOT DISTINCT FROM base.counterpart))[1].name AS other_name
    FROM base
)
SELECT n.*,
       coalesce(n.other_name, CASE WHEN n.counterpart <> '' THEN ph.display END) AS other,
       CASE
           WHEN n.title IS NOT NULL THEN n.title
           WHEN n.kind = 'meeting' THEN 'Meeting'
           WHEN n.direction = 'outbound' THEN 'Outbound call' || coalesce(' to ' || other, '')
           WHEN n.direction = 'inbound' THEN 'Inbound call' || coalesce(' from ' || other, '')
           WHEN n.direction = 'internal' THEN 'Internal call'
           ELSE 'Call' || coalesce(' with ' || other, '')
       END AS title_text,
       CASE n.status WHEN 'completed' THEN 'COMPLETED' WHEN 'busy' THEN 'BUSY'
                     WHEN 'no_answer' THEN 'NO_ANSWER' WHEN 'failed' THEN 'FAILED'
                     WHEN 'canceled' THEN 'CANCELED' WHEN 'missed' THEN 'NO_ANSWER'
                     WHEN 'voicemail' THEN 'COMPLETED' END AS hubspot_status,
       d.outcome AS outcome, coalesce(d.unmapped, false) AS outcome_unmapped,
       o.owner_id AS owner_id,
       h.code AS url_code, h.message AS url_message,
       (
           n.kind IN ('call', 'meeting')
           -- titles: Python strips the record's own title; here it must need no stripping
           AND (n.title IS NULL OR (regexp_full_match(n.title, '{printable}(.*{printable})?', 's')
                                    AND length(n.title) <= 500))
           AND (n.body IS NULL OR strlen(n.body) <= {v1_body_limit})
           AND (n.transcript_text IS NULL OR strlen(n.transcript_text) <= 900000)
           -- lower/strip of owner and participant e-mails, E.164 regexes: ASCII behaves alike
           AND regexp_full_match(coalesce(n.owner_email, ''), '[ -~]*')
           AND coalesce(list_bool_and(list_transform(n.participants,
                   p -> regexp_full_match(coalesce(p.phone, ''), '{ascii_word}')
                        AND regexp_full_match(coalesce(p.email, ''), '{ascii_word}'))), true)
           -- contacts from a contact map are looked up by builders.py
           AND (len(coalesce(n.contact_ids, [])) > 0 OR {no_contact_map})
           AND (n.recording_url IS NULL OR n.recording_url = ''
                OR (n.url_host <> '' AND NOT coalesce(h.needs_auth, false)))
           -- Python floors ms before 1970 where DuckDB truncates; isoformat pads years
           AND (n.started_at IS NULL
                OR (epoch_us(n.started_at) >= 0 AND year(n.started_at) <= 9999))
           AND (n.ended_at IS NULL OR (epoch_us(n.ended_at) >= 0 AND year(n.ended_at) <= 9999))
           AND length(title_text) <= 500  -- v2 cuts longer titles on a word
           -- DuckDB escapes some control characters in upper-case hex, orjson in lower case:
           -- every string the bodies hold is in the record's JSON, so look there once
           AND NOT regexp_matches(n.record_json, '\\u00[01][A-F]')
           AND {source_system_plain}
       ) AS plain
FROM named n
LEFT JOIN phones ph ON ph.phone = n.counterpart
LEFT JOIN dispositions d ON d.value = n.disposition
LEFT JOIN owners o ON o.email = coalesce(n.owner_email, '')
LEFT JOIN hosts h ON h.host = n.url_host
"""

_V1 = r"""
WITH t AS (
    SELECT *, epoch_ms(started_at) AS start_ms, epoch_ms(ended_at) AS end_ms,
           NOT epoch_ms(started_at) BETWEEN 946684800000 AND 4102444799999 AS start_out,
           NOT coalesce(epoch_ms(ended_at) BETWEEN 946684800000 AND 4102444799999, true)
               AS end_out
    FROM r WHERE plain
),
v AS (
    SELECT *,
           CASE WHEN started_at IS NULL THEN 'bad_timestamp'
                WHEN start_out OR end_out THEN 'timestamp_out_of_range'
                WHEN len(coalesce(contact_ids, [])) = 0 AND NOT {allow_unassociated}
                    THEN 'no_contact' END AS reason
    FROM t
)
SELECT external_id, ? AS job, kind, source_system, started_at, source_file, source_row, reason,
       CASE WHEN reason = 'bad_timestamp' THEN 'started_at'
            WHEN reason = 'timestamp_out_of_range' AND start_out THEN 'timestamp'
            WHEN reason = 'timestamp_out_of_range' THEN 'endTime'
            WHEN reason = 'no_contact' THEN 'contact_ids' END AS field,
       CASE WHEN reason = 'bad_timestamp' THEN 'the record has no start time'
            WHEN reason = 'timestamp_out_of_range'
                THEN CASE WHEN start_out THEN 'timestamp=' || start_ms
                          ELSE 'endTime=' || end_ms END
                     || ' is not a time between 2000 and 2100 in ms (policy)'
            WHEN reason = 'no_contact'
                THEN 'no contact matches the record''s phones or emails; add it to the '
                     || 'contact map or set allow_unassociated = true' END AS message,
       json_object(
           'associations', json_object('companyIds', ids(company_ids),
                                       'contactIds', ids(contact_ids),
                                       'dealIds', ids(deal_ids)),
           'engagement', json_merge_patch('{}', json_object(
               'active', true, 'ownerId', owner_id, 'timestamp', start_ms,
               'type', CASE kind WHEN 'call' THEN 'CALL' ELSE 'MEETING' END)),
           'metadata', CASE kind
               WHEN 'call' THEN json_merge_patch('{}', json_object(
                   'body', coalesce(body, ''), 'disposition', outcome,
                   'durationMilliseconds', duration_ms, 'externalId', external_id,
                   'fromNumber', CASE WHEN from_phone <> '' THEN from_phone ELSE from_phone_raw END,
                   'recordingUrl', recording_url, 'status', hubspot_status, 'title', title_text,
                   'toNumber', CASE WHEN to_phone <> '' THEN to_phone ELSE to_phone_raw END))
               ELSE json_merge_patch('{}', json_object(
                   'body', coalesce(body, ''), 'endTime', end_ms,
                   'startTime', start_ms, 'title', title_text)) END
       )::VARCHAR AS body,
       CASE WHEN kind = 'call' AND outcome_unmapped THEN 'disposition_unmapped' END AS warnings
FROM v
"""

_V2 = r"""
WITH p AS (
    SELECT *,
           list_transform(coalesce(participants, []), x -> {
               'email': CASE WHEN x.email <> '' THEN x.email END,
               'name': CASE WHEN x.name <> '' THEN x.name END,
               'phone': CASE WHEN x.phone <> '' AND e164(x.phone) THEN x.phone END,
               'owner': coalesce(x.is_owner, false)
                        OR (lower(coalesce(x.email, '')) = owner_key AND owner_key <> '')})
               AS parties,
           len(list_filter(coalesce(participants, []), x -> x.phone <> '' AND NOT e164(x.phone)))
               AS bad_phones
    FROM r WHERE plain
),
q AS (
    SELECT *,
           list_filter(parties, x -> x.email IS NOT NULL OR x.name IS NOT NULL
                                     OR x.phone IS NOT NULL) AS shown
    FROM p
),
s AS (
    SELECT *,
           list_transform(shown, (x, i) -> json_merge_patch('{}', json_object(
               'email', x.email,
               'is_owner', CASE WHEN i = list_position(list_transform(shown, y -> y.owner), true)
                                THEN true END,
               'name', x.name, 'phone', x.phone))) AS v2_parties
    FROM q
)
SELECT external_id, ? AS job, kind, source_system, started_at, source_file, source_row,
       CASE WHEN length(external_id) > 500 THEN 'external_id_too_long'
            WHEN recording_url IS NULL OR recording_url = '' THEN 'no_media_url'
            WHEN url_code IS NOT NULL THEN url_code END AS reason,
       CASE WHEN length(external_id) > 500 THEN 'external_id' ELSE 'recording_url' END AS field,
       CASE WHEN length(external_id) > 500
                THEN 'external_id has ' || length(external_id) || ' characters (limit 500)'
            WHEN recording_url IS NULL OR recording_url = ''
                THEN 'the record has no recording; v2 creates engagements from media'
            ELSE url_message END AS message,
       json_merge_patch('{}', json_object(
           'external_id', external_id,
           'is_private', {is_private},
           'media_url', recording_url,
           'participants', CASE WHEN len(v2_parties) > 0 THEN to_json(v2_parties) END,
           'source_system', {source_system},
           'start_at', iso(started_at),
           'title', title_text,
           'transcript_text', CASE WHEN transcript_text <> '' THEN transcript_text END,
           'type', CASE kind WHEN 'call' THEN 'CALL' ELSE 'MEETING' END))::VARCHAR AS body,
       nullif(array_to_string(list_transform(range(bad_phones),
                                             i -> 'participant_phone_not_e164'), ','), '')
           AS warnings
FROM s
"""
