"""The one table of rejection reason codes.

A reason code is a stable snake_case string stored in `rejected_records.reason`; scripts and
dashboards group by it, so codes are never renamed. `fix` is what the user can do about it.
`policy` marks rules of our own that the API documents do not state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    meaning: str
    fix: str
    policy: bool = False


_REASONS = (
    # The record itself could not be read (target NULL).
    Reason("missing_id", "the row has no source id", "export the id column (e.g. Twilio `sid`)"),
    Reason(
        "bad_timestamp",
        "the start time is missing or cannot be parsed",
        "check the time column and its format in the mapping",
    ),
    Reason(
        "unreadable_row",
        "the row is not a record of the expected shape",
        "check that the file is an export of the preset's system",
    ),
    Reason(
        "unreadable_file",
        "the file could not be read or decoded",
        "check the file's format and encoding",
    ),
    Reason(
        "ragged_line",
        "a CSV line has more or fewer cells than the header (the rest of the file is read)",
        "check the line named in the message: an unquoted comma or a cut line",
    ),
    Reason(
        "bad_encoding",
        "a line of a UTF-8 file holds bytes that are not UTF-8 (the rest of the file is read)",
        "re-export the file as UTF-8, or fix the line named in the message",
    ),
    Reason(
        "field_too_large",
        "a cell is over 2 MiB (FIELD_LIMIT_BYTES in sources/exports/readers.py)",
        "check the column named in the message; a cell that large is not a call field",
        policy=True,
    ),
    Reason(
        "bad_duration",
        "the duration is negative or over 7 days (MAX_DURATION_MS)",
        "check the duration column's unit (seconds, ms, minutes)",
        policy=True,
    ),
    Reason(
        "external_id_too_long",
        "external_id is longer than 500 characters",
        "use a shorter prefix; ids are never truncated, that would merge records",
    ),
    # Only one target cannot take the record.
    Reason(
        "no_media_url",
        "v2 needs a recording and the record has none",
        "export recordings with the calls (e.g. Twilio Recordings pages in the same folder)",
    ),
    Reason("media_url_not_https", "media_url must use https", "serve recordings over https"),
    Reason(
        "media_url_invalid",
        "media_url is not a valid absolute URL",
        "check the recording URL column",
    ),
    Reason(
        "media_url_userinfo",
        "media_url carries a user name or password",
        "never put credentials in a URL; use a relay",
        policy=True,
    ),
    Reason(
        "media_url_private_host",
        "media_url points at a private or internal address",
        "the API fetches media from the public internet; use a public URL",
    ),
    Reason(
        "media_url_internal_name",
        "media_url names a host that is internal by convention, or one that spells a private "
        "address for a wildcard-DNS service (nip.io, sslip.io); decided without DNS",
        "use the recording's public host name",
        policy=True,
    ),
    Reason(
        "media_url_disguised_host",
        "media_url's host is spelled so that the host sent is not the host written "
        "(invisible characters, percent-encoding, bad punycode, an IPv6 zone id)",
        "export the recording link again; a host is plain letters, digits, dots and dashes",
        policy=True,
    ),
    Reason(
        "media_url_needs_auth",
        "the recording can only be downloaded with the source's credentials",
        "make recordings public in the source system, or configure a relay",
    ),
    Reason(
        "media_url_expired",
        "the recording link had expired when the request was built",
        "export the recordings again and sync promptly, or configure a relay",
    ),
    # The job's relay could not re-host the recording (decided just before the v2 send; kept
    # in the ledger as api_rejected with this code, so `retry --reason CODE` re-queues them).
    Reason(
        "relay_host_not_allowed",
        "the recording, or a redirect from it, is on a host the relay does not download from",
        "add the host to the job's relay_hosts",
    ),
    Reason(
        "relay_source_refused",
        "the source refused the relay's download (HTTP 4xx: bad credentials, deleted or expired)",
        "check the [sources.<preset>] credentials, or export the recording links again",
    ),
    Reason(
        "relay_not_media",
        "the source answered with something other than audio/* or video/*",
        "point the recording column at the media file itself",
    ),
    Reason(
        "relay_too_large",
        "the recording is larger than the job's relay_max_mb",
        "raise relay_max_mb for the job",
        policy=True,
    ),
    Reason(
        "no_contact",
        "no contact could be associated (v1 needs one)",
        "add a contact map (--contact-map) or set allow_unassociated = true",
    ),
    Reason(
        "timestamp_out_of_range",
        "a time lies outside 2000-2100 (seconds/ms slip?); for the record (target NULL) when "
        "no target could take it, else for v1 (timestamp, endTime) or v2 (start_at)",
        "check the time column's unit",
        policy=True,
    ),
    Reason(
        "transcript_too_long",
        "transcript_text is over 900,000 characters or 950,000 bytes",
        "shorten the transcript, or set truncate_transcripts = true",
    ),
)

REASONS: dict[str, Reason] = {r.code: r for r in _REASONS}
