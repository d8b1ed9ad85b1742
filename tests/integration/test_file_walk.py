"""Issue 12 point 8: the job's folder is walked safely through the real stage()."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from pipelines.jobs import make_job
from pipelines.stage import stage
from sources.exports.walk import glob_regex, walk

CALLS = (
    "sid,from,to,start_time,duration\n"
    'CA{n:032x},+14155550100,+14155550101,"Fri, 18 Oct 2019 17:02:00 +0000",12\n'
)


def hostile_folder(tmp_path: Path) -> Path:
    root = tmp_path / "exports"
    (root / "sub").mkdir(parents=True)
    (root / "calls.csv").write_text(CALLS.format(n=1))
    (root / "sub" / "more.csv").write_text(CALLS.format(n=2))
    outside = tmp_path / "outside.csv"
    outside.write_text(CALLS.format(n=3))
    os.symlink("/etc/passwd", root / "passwd.csv")  # outside the root
    os.symlink(outside, root / "outside.csv")
    os.symlink(root / "calls.csv", root / "inside.csv")  # a link that stays inside
    os.symlink("..", root / "sub" / "parent")  # a loop
    os.symlink(root / "loop_b.csv", root / "loop_a.csv")  # a loop of file links
    os.symlink(root / "loop_a.csv", root / "loop_b.csv")
    return root


@pytest.mark.parametrize("follow", [False, True])
def test_links_never_lead_outside_the_folder(tmp_path: Path, follow: bool) -> None:
    root = hostile_folder(tmp_path)
    staging = tmp_path / "s.duckdb"
    job = make_job(
        "calls",
        {
            "preset": "twilio",
            "path": str(root),
            "allow_unassociated": True,
            "follow_symlinks": follow,
        },
    )
    [report] = stage(staging, [job])
    with duckdb.connect(str(staging)) as con:
        files = {r[0] for r in con.execute("SELECT source_file FROM engagements.calls").fetchall()}
        messages = con.execute(
            "SELECT string_agg(coalesce(message, '') || coalesce(raw, ''), ' ') "
            "FROM engagements.rejected_records"
        ).fetchone()
    assert "root:" not in (messages[0] or "")  # nothing of /etc/passwd was read
    links = {"passwd.csv", "outside.csv", "loop_a.csv", "loop_b.csv", "sub/parent"}
    assert files == {"calls.csv", "sub/more.csv"}
    if follow:  # inside.csv is read: the same call as calls.csv, so it folds
        assert (report.files, report.folded, set(report.skipped)) == (3, 1, links)
    else:
        assert (report.files, report.folded) == (2, 0)
        assert set(report.skipped) == links | {"inside.csv"}
    assert report.read == report.staged + report.folded + report.rejected


def test_a_parent_link_loop_is_walked_once(tmp_path: Path) -> None:
    root = hostile_folder(tmp_path)
    listing = walk(root, "**/*", follow_symlinks=True)
    assert [relative for relative, _ in listing.files] == [
        "calls.csv",
        "inside.csv",
        "sub/more.csv",
    ]
    assert [s.path for s in listing.skipped].count("sub/parent") == 1


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*", "a.csv", True),
        ("*", "sub/a.csv", False),
        ("**/*", "a.csv", True),
        ("**/*", "sub/deep/a.csv", True),
        ("**/*.csv", "sub/a.json", False),
        ("calls_?.json", "calls_1.json", True),
        ("[ab].csv", "c.csv", False),
    ],
)
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches
