"""The SQL of vectorised.py: canonical records -> record JSON, v1 and v2 request bodies.

Placeholders in braces ({safe_url_sql}, {allow_unassociated}, {v1_reason}, …) are filled in by
vectorised._render; the tables `records`, `phones`, `dispositions`, `owners` and `hosts` are
registered by vectorised.build. The rules (status and type words, titles, limits, checks with
their reason codes, fields and messages) are not written here: they are rendered from rules.py
by rules_sql.py, the tables builders.py reads too. What stays here is the SQL's own data flow
and the `plain` condition: which records these queries cover exactly.
"""

# base: the records with a row id, the other party's number (for the title), the media URL's
# host (when SAFE_URL covers it) and the JSON text the record's content hash is taken of
# (outputs.record_hash: every field but provenance, keys sorted, nulls kept).
BASE = r"""
CREATE MACRO iso(t) AS
    strftime(t, '%Y-%m-%dT%H:%M:%S')
    || CASE WHEN epoch_us(t) % 1000000 = 0 THEN ''
            ELSE '.' || lpad(((epoch_us(t) % 1000000 + 1000000) % 1000000)::VARCHAR, 6, '0') END
    || '+00:00';
CREATE MACRO e164(p) AS regexp_full_match(p, '{e164}');
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
SETUP = r"""
CREATE TABLE r AS
WITH named AS (
    SELECT base.*,
           (list_filter(participants, p -> p.name <> '' AND NOT coalesce(p.is_owner, false)
                        AND p.phone IS NOT DISTINCT FROM base.counterpart))[1].name AS other_name
    FROM base
)
SELECT n.*,
       coalesce(n.other_name, CASE WHEN n.counterpart <> '' THEN ph.display END) AS other,
       {title_case} AS title_text,
       d.outcome AS outcome, coalesce(d.unmapped, false) AS outcome_unmapped,
       o.owner_id AS owner_id,
       h.code AS url_code, h.message AS url_message,
       (
           n.kind IN ('call', 'meeting')
           -- titles: Python strips the record's own title; here it must need no stripping
           AND (n.title IS NULL OR (regexp_full_match(n.title, '{printable}(.*{printable})?', 's')
                                    AND length(n.title) <= {v2_title_limit}))
           AND (n.body IS NULL OR strlen(n.body) <= {v1_body_limit})
           AND (n.transcript_text IS NULL OR strlen(n.transcript_text) <= {v2_transcript_chars})
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
           AND length(title_text) <= {v2_title_limit}  -- v2 cuts longer titles on a word
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

V1 = r"""
WITH t AS (
    SELECT *, epoch_ms(started_at) AS start_ms, epoch_ms(ended_at) AS end_ms,
           len(coalesce(contact_ids, [])) = 0 AND NOT {allow_unassociated} AS unassociated
    FROM r WHERE plain
),
v AS (SELECT *, {v1_reason} AS reason FROM t)
SELECT external_id, ? AS job, kind, source_system, started_at, source_file, source_row, reason,
       {v1_field} AS field,
       {v1_message} AS message,
       json_object(
           'associations', json_object('companyIds', ids(company_ids),
                                       'contactIds', ids(contact_ids),
                                       'dealIds', ids(deal_ids)),
           'engagement', json_merge_patch('{}', json_object(
               'active', true, 'ownerId', owner_id, 'timestamp', start_ms,
               'type', {v1_type})),
           'metadata', CASE kind
               WHEN 'call' THEN json_merge_patch('{}', json_object(
                   'body', coalesce(body, ''), 'disposition', outcome,
                   'durationMilliseconds', duration_ms, 'externalId', external_id,
                   'fromNumber', CASE WHEN from_phone <> '' THEN from_phone ELSE from_phone_raw END,
                   'recordingUrl', recording_url, 'status', {v1_status}, 'title', title_text,
                   'toNumber', CASE WHEN to_phone <> '' THEN to_phone ELSE to_phone_raw END))
               ELSE json_merge_patch('{}', json_object(
                   'body', coalesce(body, ''), 'endTime', end_ms,
                   'startTime', start_ms, 'title', title_text)) END
       )::VARCHAR AS body,
       CASE WHEN kind = 'call' AND outcome_unmapped THEN 'disposition_unmapped' END AS warnings
FROM v
"""

V2 = r"""
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
               AS bad_phones,
           epoch_ms(started_at) AS start_ms, length(external_id) AS external_id_chars
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
       {v2_reason} AS reason,
       {v2_field} AS field,
       {v2_message} AS message,
       json_merge_patch('{}', json_object(
           'external_id', external_id,
           'is_private', {is_private},
           'media_url', recording_url,
           'participants', CASE WHEN len(v2_parties) > 0 THEN to_json(v2_parties) END,
           'source_system', {source_system},
           'start_at', iso(started_at),
           'title', title_text,
           'transcript_text', CASE WHEN transcript_text <> '' THEN transcript_text END,
           'type', {v2_type}))::VARCHAR AS body,
       nullif(array_to_string(list_transform(range(bad_phones),
                                             i -> 'participant_phone_not_e164'), ','), '')
           AS warnings
FROM s
"""
