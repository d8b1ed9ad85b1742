"""The contract every preset keeps, on every sample file it has (issue 15, point 12), in the way
of singer-sdk's standard tap tests: one suite, parametrised over presets and their samples.

Row accounting; UTC times; whole milliseconds; phones in valid E.164 or kept raw; ended_at not
before started_at and equal to started_at + duration_ms whenever both are known; external ids
(and content hashes) the same when the same rows are exported again into other files in another
order; and no value lost between the raw row and the record for the fields the presets map.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from sources.engagements.phones import to_e164
from sources.engagements.settings import BuildSettings
from sources.exports.mapping import parse_mapping
from sources.exports.outputs import StageOutputs
from sources.exports.source import ExportJob, stage_files
from tests.conftest import FIXTURES
from tests.unit.preset_checks import accounted

SAMPLES = Path(__file__).parent / "samples"
DEMO = Path(__file__).parents[2] / "pipelines" / "demo_data" / "exports"
REGION = "US"


def _files(folder: Path, *names: str) -> list[tuple[str, Path]]:
    return [(n, folder / n) for n in names]


def _samples(preset: str) -> list[tuple[str, Path]]:
    folder = SAMPLES / preset
    return [
        (p.name, p) for p in sorted(folder.iterdir()) if p.suffix in (".json", ".jsonl", ".csv")
    ]


# (preset, case name, files, mapping file for the generic preset)
CASES: list[tuple[str, str, Callable[[], list[tuple[str, Path]]], str | None]] = [
    *[
        (p, "samples", lambda p=p: _samples(p), None)
        for p in ("aircall", "dialpad", "gong", "ringcentral", "salesforce", "zoom")
    ],
    ("twilio", "demo_data", lambda: _files(DEMO, *sorted(p.name for p in DEMO.iterdir())), None),
    ("twilio", "fixtures", lambda: _files(FIXTURES, "twilio_3.json", "twilio_4.json"), None),
    ("zoom", "fixtures", lambda: _files(FIXTURES, "zoom_2.json"), None),
    ("generic", "calls", lambda: _files(SAMPLES / "generic", "calls.csv"), "mapping.toml"),
    ("generic", "hooks", lambda: _files(SAMPLES / "generic", "hooks.jsonl"), "hooks_mapping.toml"),
]
SETTINGS = BuildSettings(source_system="contract", allow_unassociated=True)


def _stage(preset: str, files: list[tuple[str, bytes]], mapping: str | None) -> StageOutputs:
    options = {}
    if mapping is not None:
        options["mapping"] = parse_mapping((SAMPLES / "generic" / mapping).read_bytes())
    job = ExportJob("contract", preset, "file:///x", "*", preset, REGION, options=options)
    return stage_files([(name, lambda d=data: d) for name, data in files], job, SETTINGS)


@pytest.fixture(params=CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, list[tuple[str, bytes]], str | None]:
    preset, _, files, mapping = request.param
    found = files()
    if not all(path.is_file() for _, path in found):
        pytest.skip("../shared/fixtures is not present (CI and developers have it; clones don't)")
    return preset, [(name, path.read_bytes()) for name, path in found], mapping


def _records(out: StageOutputs) -> list[dict[str, Any]]:
    return out.tables["calls"].to_pylist() + out.tables["meetings"].to_pylist()


def test_every_row_is_accounted_for(case: tuple[str, list[tuple[str, bytes]], str | None]) -> None:
    out = _stage(*case[:2], case[2])
    accounted(out)
    assert out.staged > 0


def test_times_are_utc_and_spans_consistent(
    case: tuple[str, list[tuple[str, bytes]], str | None],
) -> None:
    for record in _records(_stage(*case[:2], case[2])):
        start, end, duration = record["started_at"], record["ended_at"], record["duration_ms"]
        assert start is not None and start.utcoffset() == timedelta(0), record["external_id"]
        assert end is None or end.utcoffset() == timedelta(0)
        assert duration is None or (isinstance(duration, int) and duration >= 0)
        if end is not None:
            assert end >= start, record["external_id"]
        if duration is not None:
            assert end == start + timedelta(milliseconds=duration), record["external_id"]
        assert start.tzinfo is not None and start.astimezone(UTC) == start


def test_phones_are_valid_e164_or_kept_raw(
    case: tuple[str, list[tuple[str, bytes]], str | None],
) -> None:
    for record in _records(_stage(*case[:2], case[2])):
        for side in ("from_phone", "to_phone"):
            phone, raw = record[side], record[f"{side}_raw"]
            if phone is not None:
                assert to_e164(phone, None) == phone  # valid, not only E.164-shaped
                assert raw is not None  # no value lost: the number as written is kept
                digits = "".join(c for c in raw if c.isdigit()).lstrip("0")
                assert phone.endswith(digits[-7:]), (phone, raw)


def test_no_mapped_value_is_lost(case: tuple[str, list[tuple[str, bytes]], str | None]) -> None:
    """A raw status word always gives a mapped status; a call always has a direction."""
    for record in _records(_stage(*case[:2], case[2])):
        if record["status_raw"] is not None:
            assert record["status"] is not None, record["external_id"]
        if record["kind"] == "call":
            assert record["direction"] in ("inbound", "outbound", "internal", "unknown")
        assert record["external_id"] == f"{case[0]}:{record['source_id']}"


def test_external_ids_are_stable_across_a_re_export(
    case: tuple[str, list[tuple[str, bytes]], str | None],
) -> None:
    preset, files, mapping = case
    first = {r["external_id"]: r["content_hash"] for r in _records(_stage(preset, files, mapping))}
    # The same rows exported again: other file names, the files in the other order.
    again = [(f"reexport/{i}-{name}", data) for i, (name, data) in enumerate(reversed(files))]
    second = {r["external_id"]: r["content_hash"] for r in _records(_stage(preset, again, mapping))}
    assert second == first
