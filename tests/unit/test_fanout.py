"""One input cell reaches one output record, however many rows name the same id.

Issue 12 point 7: a Twilio recording whose call_sid was the own sid of N child legs (hostile
rows: the same short sid under N parents) had its URL copied into all N calls, and a RingCentral
telephonySessionId was copied into every leg of its session. One 10 MB cell then cost
N x 10 MB in every table built from it, whatever the per-cell limit (a cell under 2 MiB did the
same). These tests check the structure, not the memory: the bytes of the big value in the
output do not grow with N. bench/fanout.py prints the peak RSS.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sources.exports.canonical import MapContext, MappedRows, SourceFile
from sources.exports.presets import ringcentral, twilio
from sources.exports.readers import read_collections

CTX = MapContext(prefix="p", source_system="s", default_region="US")
BIG = 100_000  # bytes of the one big cell (a real 10 MB one behaves the same, only slower)


def mapped(preset: object, name: str, doc: dict[str, object]) -> MappedRows:
    data = json.dumps(doc).encode()
    return preset.map_files([SourceFile(name, read_collections(name, data))], CTX)  # type: ignore[attr-defined]


def total_bytes(table: pa.Table, column: str) -> int:
    return pc.sum(pc.binary_length(table[column])).as_py() or 0


def call(sid: str, parent: str | None = None) -> dict[str, object]:
    return {
        "sid": sid,
        "parent_call_sid": parent,
        "from": "+14155550100",
        "to": "+14155552671",
        "start_time": "Mon, 15 Apr 2024 14:00:00 +0000",
    }


def twilio_doc(calls: list[dict[str, object]], call_sid: str) -> dict[str, object]:
    url = "https://api.twilio.com/" + "a" * BIG + ".mp3"
    return {"calls": calls, "recordings": [{"sid": "RE1", "call_sid": call_sid, "media_url": url}]}


@pytest.mark.parametrize("n", [1, 3, 40])
@pytest.mark.parametrize(
    ("shape", "calls", "winner"),
    [
        # N child legs with the same sid under N parents (none present): the first row gets it
        ("shared own sid", lambda n: [call("1", f"P{i}") for i in range(n)], "p:P0"),
        # the call whose root is the recording's sid takes it, not the legs naming it as theirs
        (
            "root and own sids",
            lambda n: [call("1", f"P{i}") for i in range(n)] + [call("1")],
            "p:1",
        ),
        # a leg kept without its parent still gets a recording on its own sid (one leg)
        ("one orphan leg", lambda n: [call("1", "P0")] + [call(f"C{i}") for i in range(n)], "p:P0"),
    ],
)
def test_a_twilio_recording_reaches_one_call(n: int, shape: str, calls, winner: str) -> None:  # type: ignore[no-untyped-def]
    records = mapped(twilio, "calls.json", twilio_doc(calls(n), "1")).records
    with_url = records.filter(pc.is_valid(records["recording_url"]))
    assert with_url["external_id"].to_pylist() == [winner], shape
    assert total_bytes(records, "recording_url") < BIG + 100  # one copy, whatever n


def leg(leg_id: str, tsid: str | None = None) -> dict[str, object]:
    return {
        "id": leg_id,
        "sessionId": "1",
        "telephonySessionId": tsid,
        "startTime": "2024-04-15T14:00:00.000Z",
        "type": "Voice",
        "direction": "Outbound",
    }


@pytest.mark.parametrize("n", [1, 40])
def test_a_ringcentral_session_id_over_the_limit_is_not_lent_to_other_legs(n: int) -> None:
    legs = [leg("big", "s" * BIG)] + [leg(f"r{i}") for i in range(n)]
    rows = read_collections("calls.json", json.dumps({"records": legs}).encode())[0].rows
    lent = ringcentral._session_tsid(rows)  # what each leg without its own id takes
    assert total_bytes(pa.table({"t": lent}), "t") == 0
    result = mapped(ringcentral, "calls.json", {"records": legs})
    assert total_bytes(result.records, "source_id") < BIG + 100  # one copy, whatever n
    assert result.records.num_rows + result.folded + len(result.rejections) == n + 1


def test_a_ringcentral_session_id_is_still_lent_when_short() -> None:
    legs = [leg("a", "s-1")] + [leg(f"r{i}") for i in range(5)]
    result = mapped(ringcentral, "calls.json", {"records": legs})
    assert (result.records["source_id"].to_pylist(), result.folded) == (["s-1"], 5)
