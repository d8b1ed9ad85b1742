"""`report --html` / `sync --report`: one self-contained page holding the staging's figures,
checked in the HTML and, where Debian's `chromium` package is installed, in a real headless
Chromium (a screenshot, and the DOM after the page's script ran)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from destinations.sandbox import SandboxConfig, SandboxServer
from pipelines.cli import app
from pipelines.html_report import _script_json
from pipelines.report_data import bucket_width
from tests.integration.test_operations import job_args

runner = CliRunner()
STAGING = Path("engagement-sync.duckdb")
# Seeded faults, so the page has 429s, retries and API errors to show; Retry-After is 1 s.
FAULTS = SandboxConfig(
    v1_requests_per_10s=100_000,
    v2_requests_per_second=10_000,
    storm_every=40,
    storm_length=1,
    error_rate=0.05,
    media_timeout_rate=0.05,
    seed=4,
)


@pytest.fixture
def synced(sample: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A staging after `sync --report` against the faulty sandbox; yields the page."""
    with SandboxServer(FAULTS) as sandbox:
        for target, url in (("V1", sandbox.base_url), ("V2", sandbox.v2_base_url)):
            monkeypatch.setenv(f"DESTINATION__ENGAGEMENTS_{target}__BASE_URL", url)
            monkeypatch.setenv(f"DESTINATION__ENGAGEMENTS_{target}__API_TOKEN", FAULTS.token)
        monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V1__REQUESTS_PER_10S", "50000")
        monkeypatch.setenv("DESTINATION__ENGAGEMENTS_V2__REQUESTS_PER_SECOND", "5000")
        result = runner.invoke(app, ["sync", *job_args(sample), "--report", "sync.html"])
        assert result.exit_code == 0, result.output + result.stderr
    yield Path("sync.html")


class Figures(HTMLParser):
    """data-figure cells -> their text; every tag and attribute seen."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open = dict(attrs).get("data-figure")

    def handle_data(self, data: str) -> None:
        if self._open:
            self.figures[self._open] = self.figures.get(self._open, "") + data

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def parsed(html: str) -> Figures:
    page = Figures()
    page.feed(html)
    return page


def expected_figures() -> dict[str, str]:
    """What the staging holds, asked of it directly (not through the report's queries)."""
    with duckdb.connect(str(STAGING), read_only=True) as con:
        one = lambda sql: str(con.execute(sql).fetchone()[0])  # noqa: E731
        out = {
            "count:calls": one("SELECT count(*) FROM engagements.calls"),
            "count:rejected_records": one("SELECT count(*) FROM engagements.rejected_records"),
            "count:sends": one("SELECT count(*) FROM engagements.deliveries WHERE phase='intent'"),
        }
        for target, destination, state, n in con.execute(
            "SELECT target, destination, state, count(*) FROM engagements.delivery_states "
            "GROUP BY ALL"
        ).fetchall():
            out[f"state:{target}:{destination}:{state}"] = str(n)
        for target, reason, n in con.execute(
            "SELECT coalesce(target, 'record'), reason, count(*) FROM "
            "engagements.rejected_records GROUP BY ALL"
        ).fetchall():
            out[f"rejected:{target}:{reason}"] = str(n)
        [(run_id, throttled)] = con.execute(
            "SELECT run_id, count(*) FILTER (WHERE http_status = 429) FROM "
            "engagements.deliveries GROUP BY ALL"
        ).fetchall()
        out[f"run:{run_id}:throttled"] = str(throttled)
    return out


def assert_holds_the_staging(figures: dict[str, str]) -> None:
    wanted = expected_figures()
    throttled = [int(v) for k, v in wanted.items() if k.endswith(":throttled")]
    assert int(wanted["count:calls"]) > 0 and throttled[0] > 0  # the faults did happen
    assert {k: figures.get(k) for k in wanted} == wanted


def test_the_page_holds_the_staging_figures_and_needs_no_network(synced: Path) -> None:
    """`sync --report`'s page, then `report --html --stories 5`'s."""
    html = synced.read_text(encoding="utf-8")
    page = parsed(html)
    assert_holds_the_staging(page.figures)
    for tag, attrs in page.tags:  # nothing to fetch: no src, no stylesheet link, no URL in CSS
        assert tag not in ("link", "img", "iframe") and "src" not in attrs, (tag, attrs)
        assert not (attrs.get("href") or "").startswith(("http", "//")), attrs
    assert "url(" not in html and "@import" not in html
    for section in ("states", "rejections", "sends", "latency", "errors", "search"):
        assert f'<section id="{section}">' in html
    assert "<svg" in html
    # every API error the ledger holds, by its code or status (the faults are seeded, but which
    # create meets one depends on how the two targets' sends interleave: ask the staging)
    with duckdb.connect(str(STAGING), read_only=True) as con:
        codes = {
            str(code)
            for (code,) in con.execute(
                "SELECT DISTINCT coalesce(error_code, CAST(http_status AS VARCHAR)) "
                "FROM engagements.deliveries WHERE phase = 'outcome' AND error IS NOT NULL"
            ).fetchall()
        }
    assert codes and all(code in html for code in codes), codes
    assert "The stories of all" in html
    # `report` on its own, with the stories capped: the page says how many of how many
    result = runner.invoke(app, ["report", "--html", "capped.html", "--stories", "5", "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert written["stories"] == 5 and written["records"] > 5
    html = Path("capped.html").read_text(encoding="utf-8")
    assert f"Stories of 5 of {written['records']} records" in html
    stories = json.loads(html.split('id="stories">')[1].split("</script>")[0])
    assert len(stories) == 5
    troubled = [s for s in stories.values() if s["rejections"] or any(
        d["http_status"] and d["http_status"] >= 400 for d in s["deliveries"])]  # fmt: skip
    assert len(troubled) == 5  # records with a problem come first


def test_report_without_a_staging_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--html", "x.html"])
    assert result.exit_code == 2 and "run `engagement-sync stage` first" in result.stderr
    assert not Path("x.html").exists() and not STAGING.exists()


@pytest.mark.parametrize(
    "value", ["</script><script>alert(1)</script>", "<!-- x", "a & b > c", "\u2028"]
)
def test_embedded_json_cannot_end_its_script(value: str) -> None:
    text = _script_json({"k": value})
    assert "<" not in text and ">" not in text and json.loads(text) == {"k": value}


@pytest.mark.parametrize(
    ("span", "width"),
    [(0, 0.1), (5, 0.1), (6, 0.2), (59, 1), (600, 15), (86_400, 1800), (500_000, 86_400)],
)
def test_bucket_width_cuts_a_run_into_at_most_60(span: float, width: float) -> None:
    assert bucket_width(span) == width and span / width < 60


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("needs Debian's `chromium` package (apt-get install -y chromium); CI has it")
    return found


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium with no network at all: every host name fails to resolve."""
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=5000",  # virtual time: the page's script has run
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_the_page_in_headless_chromium(synced: Path, tmp_path: Path) -> None:
    browser = chromium()
    with duckdb.connect(str(STAGING), read_only=True) as con:
        ext, engagement = con.execute(
            "SELECT external_id, engagement_id FROM engagements.delivery_states "
            "WHERE target = 'v1' AND state = 'created' ORDER BY external_id LIMIT 1"
        ).fetchone()
    url = f"{synced.resolve().as_uri()}#story={ext}"
    shot = tmp_path / "report.png"
    headless(browser, tmp_path / "p1", "--window-size=1200,2400", f"--screenshot={shot}", url)
    assert png_size(shot) == (1200, 2400) and shot.stat().st_size > 50_000  # drawn, not blank
    dom = headless(browser, tmp_path / "p2", "--dump-dom", url).stdout
    page = parsed(dom)
    assert_holds_the_staging(page.figures)
    story = dom.split('<div id="story">')[1]
    assert f'id="story-id">{ext}</h3>' in story and "Delivery attempts" in story
    assert str(engagement) in story  # the ledger's engagement id, put in by the script
    assert "<svg" in dom
