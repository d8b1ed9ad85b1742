"""Issue 12: a generated hostile corpus, per preset, staged through the real stage() into a
temporary DuckDB: nothing crashes and every input row is accounted for."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.jobs import make_job
from pipelines.stage import stage
from tests.hostile_corpus import write_corpus


def test_hostile_corpus_stages_and_accounts_for_every_row(tmp_path: Path) -> None:
    folders = write_corpus(tmp_path / "corpus")
    jobs = []
    for preset, folder in folders.items():
        values: dict[str, object] = {"preset": preset, "path": str(folder),
                                     "allow_unassociated": True}  # fmt: skip
        if preset == "generic":
            values["mapping"] = str(tmp_path / "corpus" / "generic_mapping.toml")
        jobs.append(make_job(preset, values))
    staging = tmp_path / "s.duckdb"
    reports = stage(staging, jobs)
    with duckdb.connect(str(staging)) as con:
        refused = dict(
            con.execute(
                "SELECT job, count(*) FROM engagements.rejected_records "
                "WHERE target IS NULL GROUP BY job"
            ).fetchall()
        )
        staged = dict(
            con.execute(
                "SELECT job, count(*) FROM (SELECT job FROM engagements.calls UNION ALL "
                "SELECT job FROM engagements.meetings) GROUP BY job"
            ).fetchall()
        )
        reasons = {
            r
            for (r,) in con.execute(
                "SELECT DISTINCT reason FROM engagements.rejected_records"
            ).fetchall()
        }
    for report in reports:
        assert report.read > 0, report.job
        assert report.read == report.staged + report.folded + report.rejected, report.job
        assert (staged.get(report.job, 0), refused.get(report.job, 0)) == (
            report.staged,
            report.rejected,
        ), report.job
    assert {"timestamp_out_of_range", "bad_duration", "field_too_large", "ragged_line",
            "bad_encoding"} <= reasons  # fmt: skip
    print("hostile rows tried / accounted:", sum(r.read for r in reports))
