"""Issue 12 points 7 and 9: a bad line or an oversized cell is refused alone, with its row
number; the rest of the file is staged, and every row is accounted for."""

from __future__ import annotations

import codecs
import json

import pytest

from sources.engagements.settings import BuildSettings
from sources.exports.collection import FIELD_LIMIT_BYTES
from sources.exports.outputs import StageOutputs
from sources.exports.source import ExportJob, stage_files
from tests.unit.preset_checks import accounted

START = '"Fri, 18 Oct 2019 17:02:00 +0000"'
HEADER = "sid,from,to,start_time,duration,annotation\n"


def line(i: int, note: str = "") -> str:
    return f"CA{i:032x},+14155550100,+14155550101,{START},12,{note}\n"


def stage(name: str, data: bytes, preset: str = "twilio") -> StageOutputs:
    job = ExportJob("j", preset, "/x", "*", preset)
    out = stage_files([(name, lambda: data)], job, BuildSettings(preset, allow_unassociated=True))
    accounted(out)
    return out


def refused(out: StageOutputs) -> list[dict]:
    return [r for r in out.tables["rejected_records"].to_pylist() if r["target"] is None]


@pytest.mark.parametrize(
    ("bad_line", "reason", "field"),
    [
        ("CAx,too,many,cells,,,,,\n", "ragged_line", "*"),
        ("CAy\n", "ragged_line", "*"),
        (line(99, "Caf\xe9").replace("Caf\xe9", "Caf") + "", None, None),  # control: fine
    ],
)
def test_a_ragged_line_is_refused_alone(
    bad_line: str, reason: str | None, field: str | None
) -> None:
    data = (HEADER + line(1) + line(2, "Zoë") + bad_line + line(3)).encode()
    out = stage("calls.csv", data)
    assert out.staged == (3 if reason else 4)
    if reason:
        [rejection] = refused(out)
        assert (rejection["reason"], rejection["field"], rejection["source_row"]) == (
            reason,
            field,
            3,
        )
        assert "line 4" in rejection["message"]
        rows = {r["source_row"] for r in out.tables["calls"].to_pylist()}
        assert rows == {1, 2, 4}  # the rows after it keep their numbers


def test_a_cp1252_byte_in_a_utf8_file_refuses_only_its_line() -> None:
    data = HEADER.encode() + line(1, "Zoë").encode() + line(2, "Caf\xe9").encode("cp1252")
    data += line(3).encode()
    out = stage("calls.csv", data)
    [rejection] = refused(out)
    assert (rejection["reason"], rejection["field"], rejection["source_row"]) == (
        "bad_encoding",
        "annotation",
        2,
    )
    assert "line 3" in rejection["message"] and "Caf" in rejection["raw"]
    assert out.staged == 2


def test_a_windows_1252_file_is_still_read_whole() -> None:
    data = (HEADER + line(1, "Caf\xe9") + line(2, "Ren\xe9")).encode("cp1252")
    out = stage("calls.csv", data)
    assert (out.staged, refused(out)) == (2, [])


@pytest.mark.parametrize("name", ["calls.json", "calls.jsonl"])
def test_json_with_a_utf8_bom_is_read(name: str) -> None:
    row = {"sid": "CA" + "1" * 32, "from": "+14155550100", "to": "+14155550101",
           "start_time": "2019-10-18T17:02:00Z"}  # fmt: skip
    text = json.dumps({"calls": [row]}) if name.endswith(".json") else json.dumps(row)
    out = stage(name, codecs.BOM_UTF8 + text.encode())
    assert (out.staged, refused(out)) == (1, [])


def test_non_object_json_rows_keep_their_raw_value() -> None:
    row = {"id": 1, "started_at": 1713189600, "direction": "inbound"}
    data = json.dumps({"calls": [row, 5, None, [1, 2]]}).encode()
    out = stage("calls.json", data, "aircall")
    raws = sorted(json.loads(r["raw"]).get("_raw") for r in refused(out))
    assert raws == sorted(["5", "null", "[1,2]"])
    assert out.staged == 1


def test_a_bad_jsonl_line_is_refused_alone() -> None:
    good = json.dumps({"id": 1, "started_at": 1713189600, "direction": "inbound"})
    out = stage(
        "calls.jsonl",
        f'{good}\n{{"id": 2, "sta\n{good.replace("1,", "3,", 1)}\n'.encode(),
        "aircall",
    )
    [rejection] = refused(out)
    assert (rejection["reason"], rejection["source_row"]) == ("unreadable_row", 2)
    assert sorted(r["source_row"] for r in out.tables["calls"].to_pylist()) == [1, 3]


def test_an_oversized_cell_is_refused_naming_its_column() -> None:
    big = "x" * (FIELD_LIMIT_BYTES + 1)
    rows = [line(0, big)] + [f"CA{i},+14155550100,+14155550101,{START},12,\n" for i in range(1, 50)]
    out = stage("calls.csv", (HEADER + "".join(rows)).encode())
    [rejection] = refused(out)
    assert (rejection["reason"], rejection["field"], rejection["source_row"]) == (
        "field_too_large",
        "annotation",
        1,
    )
    assert len(rejection["raw"]) < 10_000  # the cell itself is not kept
    assert out.staged == 49


def test_an_oversized_id_is_refused_too() -> None:
    rows = ["CA" + "f" * (FIELD_LIMIT_BYTES + 1) + f",+1415,+1415,{START},12,\n", line(1)]
    out = stage("calls.csv", (HEADER + "".join(rows)).encode())
    assert [r["field"] for r in refused(out)] == ["sid"] and out.staged == 1
