"""Deterministic Twilio-shaped sample exports, for the demo, the tests and the benchmarks.

`write_twilio_sample` writes a Calls API page (JSON), a CSV call log with the same column names,
a Recordings page and a contact map. It mixes in what real exports contain: child legs, calls
without recordings, deleted recordings, numbers that are not valid, rows without a sid or with
an unparseable start time.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

STATUSES = ["completed"] * 8 + ["busy", "no-answer", "failed", "canceled"]
BASE = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
CSV_COLUMNS = [
    "sid",
    "parent_call_sid",
    "from",
    "to",
    "direction",
    "status",
    "start_time",
    "end_time",
    "duration",
    "caller_name",
    "price",
    "price_unit",
]


@dataclass(frozen=True)
class SampleCounts:
    calls: int  # rows written to call files (parents, child legs and bad rows)
    child_legs: int
    bad_rows: int
    recordings: int


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def _call(rng: random.Random, n: int, rfc2822: bool) -> dict[str, str | None]:
    start = BASE + timedelta(minutes=17 * n, seconds=rng.randrange(60))
    duration = rng.randrange(5, 1800)
    outbound = rng.random() < 0.6
    agent, other = f"+1415555{1000 + n % 9000:04d}", f"+1212555{rng.randrange(10000):04d}"
    fmt = (
        (lambda d: d.strftime("%a, %d %b %Y %H:%M:%S +0000"))
        if rfc2822
        else (lambda d: d.isoformat().replace("+00:00", "Z"))
    )
    return {
        "sid": sid("CA", n),
        "parent_call_sid": None,
        "from": agent if outbound else other,
        "to": other if outbound else agent,
        "direction": "outbound-api" if outbound else "inbound",
        "status": rng.choice(STATUSES),
        "start_time": fmt(start),
        "end_time": fmt(start + timedelta(seconds=duration)),
        "duration": str(duration),
        "caller_name": None if outbound else f"Caller {n}",
        "price": "-0.0130",
        "price_unit": "USD",
    }


def twilio_calls(n_calls: int, seed: int = 7, rfc2822: bool = True) -> list[dict[str, str | None]]:
    """`n_calls` parent calls, plus a child leg for every 10th and a few broken rows."""
    rng = random.Random(seed)
    rows: list[dict[str, str | None]] = []
    for n in range(1, n_calls + 1):
        call = _call(rng, n, rfc2822)
        rows.append(call)
        if n % 10 == 0:  # a <Dial> leg: folds into its parent
            rows.append(
                {
                    **call,
                    "sid": sid("CA", 10_000_000 + n),
                    "parent_call_sid": call["sid"],
                    "direction": "outbound-dial",
                }
            )
        if n % 37 == 0:
            rows.append(
                {
                    **_call(rng, n + 500_000, rfc2822),
                    "start_time": "yesterday-ish",
                    "end_time": None,
                }
            )
        if n % 53 == 0:
            rows.append({**_call(rng, n + 600_000, rfc2822), "sid": None})
        if n % 29 == 0:
            call["to"] = "client:agent_alice"  # not a phone: kept raw, left out of v2
    return rows


def write_twilio_sample(
    folder: Path,
    n_calls: int = 240,
    seed: int = 7,
    complete: bool = False,
    media_base: str | None = None,
) -> SampleCounts:
    """Exports in `folder/exports/` (calls split between a JSON page and a CSV; recordings for
    ~3 in 4 calls) and a contact map `folder/contacts.csv`. Recording links point at Twilio, or
    at `media_base/<recording sid>` (e.g. the sandbox's recordings, for the relay)."""
    exports = folder / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    rows = twilio_calls(n_calls, seed)
    half = len(rows) // 2
    page = {"calls": rows[:half], "page": 0, "page_size": half, "next_page_uri": None}
    (exports / "calls_page_0.json").write_text(json.dumps(page, indent=1))
    iso_rows = twilio_calls(n_calls, seed, rfc2822=False)[half:]
    with open(exports / "call_log.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(iso_rows)
    recordings = _recordings(rows, seed, 0.0 if complete else 0.25, media_base)
    (exports / "recordings_page_0.json").write_text(
        json.dumps({"recordings": recordings}, indent=1)
    )
    _write_contacts(folder / "contacts.csv", rows, every_party=complete)
    children = sum(1 for r in rows if r["parent_call_sid"])
    bad = sum(1 for r in rows if not r["sid"] or r["start_time"] == "yesterday-ish")
    return SampleCounts(len(rows), children, bad, len(recordings))


def _recordings(
    rows: list[dict[str, str | None]], seed: int, missing_share: float, media_base: str | None
) -> list[dict[str, str | None]]:
    rng = random.Random(seed + 1)
    twilio = f"https://api.twilio.com/2010-04-01/Accounts/{sid('AC', 1)}/Recordings"
    out = []
    for i, row in enumerate(r for r in rows if r["sid"] and not r["parent_call_sid"]):
        if rng.random() < missing_share:
            continue
        re_sid = sid("RE", i + 1)
        out.append(
            {
                "sid": re_sid,
                "call_sid": row["sid"],
                "duration": row["duration"],
                "status": "deleted" if i % 41 == 0 else "completed",
                "start_time": row["start_time"],
                "date_created": row["start_time"],
                "uri": f"/2010-04-01/Accounts/{sid('AC', 1)}/Recordings/{re_sid}.json",
                "media_url": f"{media_base or twilio}/{re_sid}",
            }
        )
    return out


def _write_contacts(path: Path, rows: list[dict[str, str | None]], every_party: bool) -> None:
    """A contact map covering most of the outside parties (v1 needs a contact)."""
    others = sorted(
        {
            (r["to"] if r["direction"] == "outbound-api" else r["from"]) or ""
            for r in rows
            if r["sid"]
        }
        - {"", "client:agent_alice"}
    )
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["contact_id", "email", "phone"])
        for i, phone in enumerate(others):
            if every_party or i % 9 != 4:  # a few parties are not in the CRM
                writer.writerow([5000 + i, f"contact{i}@example.com", phone])
