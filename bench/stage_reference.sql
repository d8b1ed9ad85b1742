-- The reference for bench/stage.py: what `engagement-sync stage --preset twilio` writes, as one
-- pure DuckDB SQL script over the same CSV files (no Python, no dlt).
--
--   duckdb ref.duckdb \
--     -cmd "SET VARIABLE calls_csv = 'data/call_log.csv'" \
--     -cmd "SET VARIABLE recordings_csv = 'data/recordings.csv'" \
--     -f bench/stage_reference.sql
--
-- Optional variables (defaults in brackets): source_file [call_log.csv] (the name engagement-sync
-- records as source_file: the path relative to the job's folder), job [twilio],
-- prefix [twilio] (external_id prefix), source_system [twilio].
-- recordings_csv may be a header-only file (sid,call_sid,status,uri,media_url).
--
-- Writes into schema `engagements`: calls, recordings, v1_requests, v2_requests,
-- rejected_records, with engagement-sync's column names and the same JSON bodies and hashes.
-- Rules mirrored from the product (sources/exports/presets/twilio.py, common.py, canonical.py,
-- outputs.py, sources/engagements/builders.py, titles.py):
--   * blank strings are NULL; sid -> missing_id; start_time not ISO-with-offset nor RFC 2822 ->
--     bad_timestamp (rejected_records, target NULL, raw = the row's non-null CSV values);
--   * child legs fold into their root (parent_call_sid, else sid): one row per root, the parent
--     leg first, then file row order;
--   * recording URL: completed (or status-less) recordings, media_url else api host + uri,
--     https, `.mp3` appended unless .mp3/.wav; min per call_sid; joined by root, else own sid;
--   * phones: valid-shaped E.164 kept; `+1 (NPA) NXX-XXXX` style NANP numbers stripped to E.164;
--     anything else NULL. (The product runs libphonenumber on non-E.164 values: it also accepts
--     other countries' formatted numbers. The bench data only holds NANP numbers.)
--   * v1: every call (allow_unassociated, no contact map); v2: calls with a recording URL, else a
--     `no_media_url` rejection. Bodies are compact JSON with sorted keys; content_hash = sha256
--     of that text, so hashes are comparable with the staging's.
-- Not done here: dlt's merge bookkeeping (_dlt_id, _dlt_load_id, staging dataset), the delivery
-- ledger and views, v2 media URL policy checks (the bench URLs are all public https).

SET TimeZone = 'UTC';
SET VARIABLE source_file = coalesce(getvariable('source_file'), 'call_log.csv');
SET VARIABLE job = coalesce(getvariable('job'), 'twilio');
SET VARIABLE prefix = coalesce(getvariable('prefix'), 'twilio');
SET VARIABLE source_system = coalesce(getvariable('source_system'), 'twilio');

CREATE SCHEMA IF NOT EXISTS engagements;

CREATE TEMP MACRO blank_null(x) AS CASE WHEN trim(x) = '' THEN NULL ELSE x END;
-- ISO 8601 with Z or an offset, else RFC 2822 (Twilio's API format); anything else NULL.
CREATE TEMP MACRO parse_any_time(x) AS coalesce(
    CASE WHEN regexp_full_match(x,
        '\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)')
    THEN try_cast(upper(x) AS TIMESTAMPTZ) END,
    try_strptime(x, '%a, %d %b %Y %H:%M:%S %z'));
CREATE TEMP MACRO e164(x) AS CASE
    WHEN regexp_full_match(trim(x), '\+[1-9]\d{6,14}') THEN trim(x)
    WHEN regexp_full_match(x, '\s*\+[\d\s().-]+')
         AND regexp_full_match(regexp_replace(x, '[\s().-]', '', 'g'), '\+1[2-9]\d{2}[2-9]\d{6}')
    THEN regexp_replace(x, '[\s().-]', '', 'g') END;
-- libphonenumber's INTERNATIONAL format for NANP numbers, with dashes as spaces; else as is.
CREATE TEMP MACRO display_phone(p) AS CASE
    WHEN regexp_full_match(regexp_replace(p, '[\s().-]', '', 'g'), '\+1\d{10}')
    THEN regexp_replace(regexp_replace(p, '[\s().-]', '', 'g'),
                        '^\+1(\d{3})(\d{3})(\d{4})$', '+1 \1 \2 \3')
    ELSE p END;
CREATE TEMP MACRO iso_utc(t) AS strftime(t, '%Y-%m-%dT%H:%M:%S') || '+00:00';
CREATE TEMP MACRO row_rejection_id(row_no) AS
    'row:' || sha256(getvariable('job') || chr(31) || getvariable('source_file') || chr(31)
                     || row_no::VARCHAR)[1:32];

-- 1. read, number the rows, parse ids and times ------------------------------------------------
CREATE TEMP TABLE parsed AS
WITH src AS (
    SELECT *, row_number() OVER () AS _source_row
    FROM read_csv(getvariable('calls_csv'), all_varchar = true, header = true)
)
SELECT *,
       blank_null(sid) AS _sid,
       coalesce(blank_null(parent_call_sid), blank_null(sid)) AS _root,
       blank_null(parent_call_sid) IS NOT NULL AS _is_child,
       parse_any_time(blank_null(start_time)) AS _start
FROM src;

-- 2. rows that cannot be staged ------------------------------------------------------------------
CREATE TABLE engagements.rejected_records AS
SELECT row_rejection_id(_source_row) AS rejection_id,
       getvariable('job') AS job,
       NULL::VARCHAR AS target,
       CASE WHEN _sid IS NULL THEN 'missing_id' ELSE 'bad_timestamp' END AS reason,
       CASE WHEN _sid IS NULL THEN 'sid' ELSE 'start_time' END AS field,
       CASE WHEN _sid IS NULL THEN 'the row has no call sid'
            ELSE 'start_time (or date_created) is missing or not a RFC 2822 / ISO 8601 time '
                 || 'with an offset' END AS message,
       NULL::VARCHAR AS external_id,
       getvariable('source_system') AS source_system,
       getvariable('source_file') AS source_file,
       _source_row AS source_row,
       map_from_entries(list_filter([
           ('sid', sid), ('parent_call_sid', parent_call_sid), ('from', "from"), ('to', "to"),
           ('direction', direction), ('status', status), ('start_time', start_time),
           ('end_time', end_time), ('duration', duration), ('caller_name', caller_name),
           ('price', price), ('price_unit', price_unit)], lambda e: e[2] IS NOT NULL))::JSON::VARCHAR
           AS raw
FROM parsed
WHERE _sid IS NULL OR _start IS NULL;

-- 3. recording URLs (side table, as staged) -----------------------------------------------------
CREATE TABLE engagements.recordings AS
WITH r AS (
    SELECT blank_null(call_sid) AS call_sid, blank_null(status) AS status,
           regexp_replace(
               coalesce(blank_null(media_url),
                        'https://api.twilio.com' || regexp_replace(blank_null(uri), '\.json$', '')),
               '^http://api\.twilio', 'https://api.twilio') AS url
    FROM read_csv(getvariable('recordings_csv'), all_varchar = true, header = true)
)
SELECT call_sid,
       min(CASE WHEN regexp_matches(url, '\.(mp3|wav)$') THEN url ELSE url || '.mp3' END)
           AS recording_url,
       getvariable('job') AS job
FROM r
WHERE (status IS NULL OR status = 'completed') AND call_sid IS NOT NULL AND url IS NOT NULL
GROUP BY call_sid;

-- 4. fold legs, join recordings, canonical columns ---------------------------------------------
CREATE TEMP TABLE canon AS
WITH kept AS (
    SELECT * FROM parsed
    WHERE _sid IS NOT NULL AND _start IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY _root ORDER BY _is_child, _source_row) = 1
),
joined AS (
    SELECT k.*, coalesce(by_root.recording_url, by_own.recording_url) AS recording_url,
           e164(blank_null(k."from")) AS from_phone, e164(blank_null(k."to")) AS to_phone,
           blank_null(k."from") AS from_phone_raw, blank_null(k."to") AS to_phone_raw,
           parse_any_time(blank_null(k.end_time)) AS _end,
           CASE WHEN regexp_full_match(trim(k.duration), '-?\d{1,18}')
                THEN trim(k.duration)::BIGINT * 1000 END AS _duration
    FROM kept k
    LEFT JOIN engagements.recordings by_root ON by_root.call_sid = k._root
    LEFT JOIN engagements.recordings by_own ON by_own.call_sid = k._sid
),
spans AS (
    SELECT *, coalesce(_duration, CASE WHEN epoch_ms(_end) >= epoch_ms(_start)
                                       THEN epoch_ms(_end) - epoch_ms(_start) END) AS duration_ms
    FROM joined
)
SELECT getvariable('prefix') || ':' || _root AS external_id,
       getvariable('source_system') AS source_system,
       _root AS source_id,
       'call' AS kind,
       NULL::VARCHAR AS title,
       NULL::VARCHAR AS body,
       _start AS started_at,
       coalesce(_end, _start + to_milliseconds(duration_ms)) AS ended_at,
       duration_ms,
       CASE WHEN blank_null(direction) IS NULL THEN NULL
            ELSE CASE lower(direction)
                WHEN 'inbound' THEN 'inbound' WHEN 'outbound-api' THEN 'outbound'
                WHEN 'outbound-dial' THEN 'outbound' WHEN 'trunking-originating' THEN 'outbound'
                WHEN 'trunking-terminating' THEN 'inbound' ELSE 'unknown' END END AS direction,
       CASE WHEN blank_null(status) IS NULL THEN NULL
            ELSE CASE lower(status)
                WHEN 'completed' THEN 'completed' WHEN 'busy' THEN 'busy'
                WHEN 'no-answer' THEN 'no_answer' WHEN 'failed' THEN 'failed'
                WHEN 'canceled' THEN 'canceled' ELSE 'unknown' END END AS status,
       NULL::VARCHAR AS disposition,
       from_phone, to_phone,
       blank_null(status) AS status_raw,
       from_phone_raw, to_phone_raw,
       recording_url,
       NULL::VARCHAR AS transcript_text,
       NULL::VARCHAR AS owner_email,
       blank_null(caller_name) AS _caller_name,
       coalesce(from_phone, from_phone_raw) AS _party_from,
       coalesce(to_phone, to_phone_raw) AS _party_to,
       getvariable('source_file') AS source_file,
       _source_row AS source_row
FROM spans;

CREATE TABLE engagements.calls AS
SELECT external_id, source_system, source_id, kind, title, body, started_at, ended_at,
       duration_ms, direction, status, disposition, from_phone, to_phone, status_raw,
       from_phone_raw, to_phone_raw, recording_url, transcript_text, owner_email,
       to_json([{'name': _caller_name, 'email': NULL::VARCHAR, 'phone': _party_from,
                 'is_owner': NULL::BOOLEAN},
                {'name': NULL::VARCHAR, 'email': NULL::VARCHAR, 'phone': _party_to,
                 'is_owner': NULL::BOOLEAN}]) AS participants,
       NULL::JSON AS contact_ids, NULL::JSON AS company_ids, NULL::JSON AS deal_ids,
       source_file, source_row,
       -- what the record says, keys sorted, nulls kept (outputs.record_hash)
       sha256(json_object(
           'body', body, 'company_ids', NULL, 'contact_ids', NULL, 'deal_ids', NULL,
           'direction', direction, 'disposition', disposition, 'duration_ms', duration_ms,
           'ended_at', iso_utc(ended_at), 'external_id', external_id,
           'from_phone', from_phone, 'from_phone_raw', from_phone_raw, 'kind', kind,
           'owner_email', owner_email,
           'participants', json_array(
               json_object('email', NULL, 'is_owner', NULL, 'name', _caller_name,
                           'phone', _party_from),
               json_object('email', NULL, 'is_owner', NULL, 'name', NULL, 'phone', _party_to)),
           'recording_url', recording_url, 'source_id', source_id,
           'source_system', source_system, 'started_at', iso_utc(started_at),
           'status', status, 'status_raw', status_raw, 'title', title,
           'to_phone', to_phone, 'to_phone_raw', to_phone_raw,
           'transcript_text', transcript_text)::VARCHAR) AS content_hash,
       getvariable('job') AS job
FROM canon;

-- 5. request bodies ------------------------------------------------------------------------------
CREATE TEMP TABLE display AS
WITH c AS (
    SELECT *,
           CASE WHEN direction = 'outbound' THEN coalesce(to_phone, to_phone_raw)
                ELSE coalesce(from_phone, from_phone_raw) END AS _counterpart
    FROM canon
),
o AS (
    SELECT *,
           coalesce(CASE WHEN _caller_name IS NOT NULL AND _party_from = _counterpart
                         THEN _caller_name END,
                    display_phone(_counterpart)) AS _other
    FROM c
)
SELECT *,
       CASE direction
           WHEN 'outbound' THEN 'Outbound call' || coalesce(' to ' || _other, '')
           WHEN 'inbound' THEN 'Inbound call' || coalesce(' from ' || _other, '')
           WHEN 'internal' THEN 'Internal call'
           ELSE 'Call' || coalesce(' with ' || _other, '') END AS _title,
       CASE status WHEN 'completed' THEN 'COMPLETED' WHEN 'busy' THEN 'BUSY'
                   WHEN 'no_answer' THEN 'NO_ANSWER' WHEN 'failed' THEN 'FAILED'
                   WHEN 'canceled' THEN 'CANCELED' WHEN 'missed' THEN 'NO_ANSWER'
                   WHEN 'voicemail' THEN 'COMPLETED' END AS _hubspot_status
FROM o;

CREATE TABLE engagements.v1_requests AS
WITH b AS (
    SELECT external_id, kind, source_system, started_at,
           json_object(
               'associations', json_object('companyIds', json('[]'), 'contactIds', json('[]'),
                                           'dealIds', json('[]')),
               'engagement', json_object('active', true, 'timestamp', epoch_ms(started_at),
                                         'type', 'CALL'),
               'metadata', json_merge_patch('{}', json_object(
                   'body', '', 'durationMilliseconds', duration_ms, 'externalId', external_id,
                   'fromNumber', coalesce(from_phone, from_phone_raw),
                   'recordingUrl', recording_url, 'status', _hubspot_status,
                   'title', _title, 'toNumber', coalesce(to_phone, to_phone_raw)))
           )::VARCHAR AS body
    FROM display
)
SELECT external_id, getvariable('job') AS job, kind, source_system, started_at, body,
       sha256(body) AS content_hash, NULL::VARCHAR AS warnings
FROM b;

CREATE TABLE engagements.v2_requests AS
WITH p AS (
    SELECT *,
           _party_from IS NOT NULL AND NOT regexp_full_match(_party_from, '\+[1-9]\d{1,14}')
               AS _bad_from,
           _party_to IS NOT NULL AND NOT regexp_full_match(_party_to, '\+[1-9]\d{1,14}')
               AS _bad_to
    FROM display
    WHERE recording_url IS NOT NULL
),
parts AS (
    SELECT *,
           list_filter([
               json_merge_patch('{}', json_object(
                   'name', _caller_name,
                   'phone', CASE WHEN NOT _bad_from THEN _party_from END)),
               json_merge_patch('{}', json_object(
                   'phone', CASE WHEN NOT _bad_to THEN _party_to END))],
               lambda e: e::VARCHAR <> '{}') AS _participants
    FROM p
),
b AS (
    SELECT *,
           json_merge_patch('{}', json_object(
               'external_id', external_id,
               'media_url', recording_url,
               'participants', CASE WHEN len(_participants) > 0 THEN to_json(_participants) END,
               'source_system', left(getvariable('source_system'), 100),
               'start_at', iso_utc(started_at),
               'title', _title,
               'type', 'CALL'))::VARCHAR AS _body
    FROM parts
)
SELECT external_id, getvariable('job') AS job, kind, source_system, started_at, _body AS body,
       sha256(_body) AS content_hash,
       nullif(concat_ws(',', CASE WHEN _bad_from THEN 'participant_phone_not_e164' END,
                        CASE WHEN _bad_to THEN 'participant_phone_not_e164' END), '')
           AS warnings
FROM b;

INSERT INTO engagements.rejected_records
SELECT 'v2:' || external_id, getvariable('job'), 'v2', 'no_media_url', 'recording_url',
       'the record has no recording; v2 creates engagements from media',
       external_id, source_system, source_file, source_row, NULL
FROM canon
WHERE recording_url IS NULL;

CHECKPOINT;
