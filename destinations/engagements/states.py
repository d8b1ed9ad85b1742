"""Where a record stands at a destination: the one definition every command uses.

The ledger (`engagements.deliveries`) is append-only. `delivery_states` folds it to one row per
(destination, target, external_id): the latest row's state (an intent with no outcome after it
is `unknown`), the hash of what the server last accepted (`delivered_hash`), the engagement id,
and the last intent's bytes (a resend repeats them). STANDING then compares a request's current
content hash with `delivered_hash`: a delivered record whose content changed since is
`drifted` (v1 PATCHes it; v2 cannot be updated and reports it). Push (what is pending), the
sink's last check before a send, dry-run, status, explain, retry and the request-state views
all read these two, never a copy.
"""

from __future__ import annotations

DELIVERED = ("created", "existing", "updated")
_DELIVERED_SQL = "('created', 'existing', 'updated')"

# An outcome row carries its intent's hash; where an old row has none, the intent's is used.
DELIVERY_STATES_VIEW = f"""
CREATE OR REPLACE VIEW engagements.delivery_states AS
WITH hashed AS (
    SELECT *, coalesce(content_hash, lag(content_hash) OVER (
                  PARTITION BY destination, target, external_id ORDER BY seq)) AS sent_hash
    FROM engagements.deliveries
)
SELECT destination, target, external_id,
       max(seq) AS seq,
       CASE WHEN arg_max(phase, seq) = 'intent' THEN 'unknown'
            ELSE arg_max_null(state, seq) END AS state,
       arg_max(phase, seq) AS phase,
       arg_max(recorded_at, seq) AS recorded_at,
       arg_max_null(run_id, seq) AS run_id,
       arg_max_null(pid, seq) AS pid,
       arg_max_null(sent_hash, seq) AS content_hash,
       arg_max(sent_hash, seq) FILTER (
           WHERE phase = 'outcome' AND state IN {_DELIVERED_SQL}) AS delivered_hash,
       arg_max(engagement_id, seq) AS engagement_id,
       arg_max_null(http_status, seq) AS http_status,
       arg_max_null(error_code, seq) AS error_code,
       arg_max_null(error, seq) AS error,
       arg_max_null(request_id, seq) AS request_id,
       arg_max_null(note, seq) AS note,
       arg_max(content_hash, seq) FILTER (WHERE phase = 'intent') AS intent_hash,
       arg_max(request_body, seq) FILTER (WHERE phase = 'intent') AS intent_body,
       arg_max_null(run_workflows, seq) FILTER (WHERE phase = 'intent') AS intent_run_workflows,
       arg_max(recorded_at, seq) FILTER (WHERE phase = 'intent') AS intent_at,
       arg_max(operation, seq) FILTER (WHERE phase = 'intent') AS intent_operation,
       count(*) FILTER (WHERE error_code = 'media_download_timeout') AS media_timeouts
FROM hashed
GROUP BY destination, target, external_id
"""

# The standing of request `r` given its ledger state `s` (NULL: never sent to this destination).
STANDING = f"""CASE
    WHEN s.state IS NULL THEN 'pending'
    WHEN s.state IN {_DELIVERED_SQL} AND s.delivered_hash IS NOT NULL
         AND s.delivered_hash <> r.content_hash THEN 'drifted'
    ELSE s.state END"""

# Standings a push sends: never sent, retry later, outcome unknown; drifted only where the
# target can update (v1 PATCH).
SENDABLE = {
    "v1": ("pending", "unknown", "drifted"),
    "v2": ("pending", "unknown"),
}


def sendable_sql(target: str) -> str:
    """A SQL list of the standings a push to `target` sends."""
    return "(" + ", ".join(f"'{s}'" for s in SENDABLE[target]) + ")"


def standings_sql(target: str) -> str:
    """Each staged request of `target` with its standing at destination `?` (one parameter)."""
    return f"""
SELECT r.*, {STANDING} AS standing, s.state AS ledger_state, s.pid, s.engagement_id,
       s.delivered_hash, s.http_status, s.error_code, s.error, s.request_id,
       s.recorded_at AS last_at, s.destination
FROM engagements.{target}_requests r
LEFT JOIN (SELECT * FROM engagements.delivery_states
           WHERE destination = ? AND target = '{target}') s
       ON s.external_id = r.external_id
"""
