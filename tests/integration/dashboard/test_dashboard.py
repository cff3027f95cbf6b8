"""The dashboard on the real database, looked at in headless Chromium from Debian's packages.

A fresh database gets demo-like data through the real writer (3 printers of 300 pads, the last develops
squeegee_blade, tests/integration/db/fleet.py); `spi-crrn dashboard` serves it as the reporting role on a
free loopback port; Chromium (`--dump-dom` after the page's script ran, `--screenshot`) opens every page.
The checks count what is drawn. Screenshots are kept in out/test-artifacts/dashboard/ (git-ignored).
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from streams.dashboard.app import NotReporterRoleError, create_app
from streams.db.engine import make_engine
from streams.db.writer import ResultWriter
from streams.services.processes import pick_port, wait_until
from streams.services.system_packages import ensure_program
from tests.integration.db import fleet

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[3] / "out" / "test-artifacts" / "dashboard"
NOW = datetime.now(UTC)
PADS = 300
BOARDS_SHOWN = 6  # the dashboard's default board maps per printer page


class Elements(HTMLParser):
    """Every start tag of a page as (tag, attributes); text per element id."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.items: list[tuple[str, dict[str, str]]] = []
        self.text = ""
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.items.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text += data

    def find(self, tag: str, cls: str | None = None, **attrs: str) -> list[dict[str, str]]:
        out = []
        for t, a in self.items:
            if t != tag or (cls is not None and cls not in a.get("class", "").split()):
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(a)
        return out


@pytest.fixture(scope="module")
def chromium() -> str:
    return ensure_program("chromium", ["chromium", "fonts-dejavu-core"], "the dashboard test drives Chromium")


@pytest.fixture(scope="module")
def dashboard(fresh_database) -> Iterator[str]:
    """Base URL of `spi-crrn dashboard` on the filled database, as the reporting role."""
    f = fleet.simulate(NOW, printers=3, pads=PADS, boards=30)
    engine = make_engine(fresh_database.writer)
    try:
        fleet.write(ResultWriter(engine), f, NOW, process_printer="P02")
    finally:
        engine.dispose()
    port = pick_port(18080)  # or any free one
    cmd = [
        sys.executable,
        "-c",
        "from streams.cli.main import main; main()",
        "dashboard",
        "--port",
        str(port),
    ]
    cmd += ["--database-url", fresh_database.reporter]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return proc.poll() is not None

        if not wait_until(up, 60, interval_s=0.3) or proc.poll() is not None:
            proc.terminate()
            output = proc.communicate(timeout=20)[0].decode(errors="replace")
            pytest.fail(f"dashboard did not answer on {base}:\n{output[-3000:]}")
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


def _open(chromium: str, url: str, shot: str) -> Elements:
    """The page's DOM after its script ran, and a screenshot of it under ARTIFACTS."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    dom = subprocess.run(
        [*flags, "--virtual-time-budget=3000", "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot_path = ARTIFACTS / f"{shot}.png"
    run = subprocess.run(
        [*flags, "--window-size=1400,1100", f"--screenshot={shot_path}", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot_path.stat().st_size > 10_000  # a drawn page, not a blank one
    page = Elements(dom.stdout)
    assert page.find("body", data_refresh="10"), "the page refreshes itself"
    assert re.search(r"updated \d", page.text), "the page's script ran (it stamps the update time)"
    external = [
        a for _, a in page.items for k in ("src", "href") if a.get(k, "").startswith(("http:", "https:"))
    ]
    assert external == [], "every asset comes from the app itself"
    return page


def _rgb(fill: str) -> tuple[int, int, int]:
    return int(fill[1:3], 16), int(fill[3:5], 16), int(fill[5:7], 16)


def test_overview_names_the_defective_printer(chromium: str, dashboard: str) -> None:
    page = _open(chromium, f"{dashboard}/", "overview")
    rows = {a["data-printer"]: a["class"] for a in page.find("tr", "printer")}
    # P02's one process alarm (alarm_type 'process') makes it a process alarm; P01 stays healthy
    assert rows == {"P01": "printer ok", "P02": "printer warn", "P03": "printer bad"}
    assert "squeegee_blade" in page.text
    assert "process alarm" in page.text
    assert page.text.count("healthy") >= 2  # P01 and the status legend


def test_board_maps_of_the_defective_printer(chromium: str, dashboard: str) -> None:
    page = _open(chromium, f"{dashboard}/printers/P03", "printer-P03")
    boards = page.find("svg", "board")
    assert len(boards) == BOARDS_SHOWN
    assert all(b["data-pads"] == str(PADS) for b in boards)
    pads = page.find("rect", "pad")
    assert len(pads) == BOARDS_SHOWN * PADS
    excessive = page.find("rect", "excessive")
    assert len(excessive) > 10 * BOARDS_SHOWN  # the blade's excessive pads, outlined
    assert all(_rgb(a["fill"])[0] > 200 and _rgb(a["fill"])[2] < 120 for a in excessive)  # red
    blue = [a for a in pads if _rgb(a["fill"])[2] > _rgb(a["fill"])[0] + 40]
    assert len(blue) > PADS // 10  # negative scores drawn blue
    assert page.find("b", "defect-name")
    assert "squeegee_blade" in page.text
    assert "Evidence" in page.text


def test_board_maps_of_a_healthy_printer(chromium: str, dashboard: str) -> None:
    page = _open(chromium, f"{dashboard}/printers/P01", "printer-P01")
    assert len(page.find("rect", "pad")) == BOARDS_SHOWN * PADS
    alarmed = page.find("rect", "excessive") + page.find("rect", "insufficient")
    assert len(alarmed) <= BOARDS_SHOWN * PADS // 100
    assert "No printer defect named" in page.text


def test_alarm_rate_per_printer(chromium: str, dashboard: str) -> None:
    page = _open(chromium, f"{dashboard}/trends", "trends")
    lines = [a["data-printer"] for a in page.find("polyline", "rate")]
    assert sorted(lines) == ["P01", "P01", "P02", "P02", "P03", "P03"]  # 5-minute and hourly charts


def test_one_pads_trend(chromium: str, dashboard: str) -> None:
    board_page = _open(chromium, f"{dashboard}/printers/P03?n=4", "printer-P03-last-4")
    assert len(board_page.find("svg", "board")) == 4
    # The blade works in one squeegee direction: take the pad alarmed on most of the shown boards.
    pad = Counter(a["data-pad"] for a in board_page.find("rect", "excessive")).most_common(1)[0][0]
    page = _open(chromium, f"{dashboard}/printers/P03/pads/{quote(pad, safe='')}?n=30", "pad-trend")
    points = page.find("circle", "spc")
    assert len(points) == 2 * 30  # volume and score, one per board
    assert page.find("circle", "excessive")
    assert page.find("line", "ucl")
    assert page.find("line", "lcl")
    assert page.find("polyline", "exc")
    assert page.find("polyline", "ins")


def test_defect_timeline(chromium: str, dashboard: str) -> None:
    page = _open(chromium, f"{dashboard}/defects", "defects")
    spans = page.find("rect", "span")
    assert [(a["data-printer"], a["data-defect"]) for a in spans] == [("P03", "squeegee_blade")]
    assert "raised" in page.text


def test_refuses_a_role_that_reads_tables(fresh_database) -> None:
    engine = make_engine(fresh_database.writer)
    try:
        with pytest.raises(NotReporterRoleError, match="DATABASE_REPORTER_URL"):
            create_app(engine)
    finally:
        engine.dispose()
