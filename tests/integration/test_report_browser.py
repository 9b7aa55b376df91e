"""The HTML report in a real browser: headless Chromium renders a report built from run
directories whose replies carry markup, and the page must show that markup as text, run no
script, and draw its plots. CI installs Chromium (.ci/run); without it this test fails."""

from __future__ import annotations

import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from harness.report import build_report
from harness.report._svg import PALETTE
from tests.runfactory import HARMFUL_FLOOR, QUIZ_NON_INFERIOR, crisis_row, crisis_rows, quiz_rows, rules_file, write_run

pytestmark = pytest.mark.integration

SCRIPT_REPLY = "<script>alert(1)</script> <img src=x onerror=alert(2)> I'm glad to hear that"
WIDTH, HEIGHT = 1280, 2000


class DomParts(HTMLParser):
    def __init__(self, dom: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "chromium is not on PATH; install it with `apt-get install -y --no-install-recommends chromium` "
            "(.ci/run does this before the tests)"
        )
    return path


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"chromium exited {result.returncode}: {result.stderr[-2000:]}"
    return result


@pytest.fixture
def report(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    baseline = write_run(runs, "baseline", {"mh_crisis": crisis_rows(), "quiz": quiz_rows(range(100))})
    hostile = crisis_row("c-evil", SCRIPT_REPLY, safe=False, harmful=True)
    candidate = write_run(
        runs, "candidate", {"mh_crisis": [hostile, *crisis_rows()], "quiz": quiz_rows(range(110))}, adapter="sft"
    )
    rules = rules_file(tmp_path, HARMFUL_FLOOR, QUIZ_NON_INFERIOR)
    return build_report([baseline, candidate], out=tmp_path / "html" / "report.html", rules_path=rules)


def test_chromium_renders_the_report_and_runs_no_script(report: Path, tmp_path: Path) -> None:
    url = report.resolve().as_uri()
    screenshot = tmp_path / "page.png"
    run_chromium(tmp_path / "profile", f"--screenshot={screenshot}", f"--window-size={WIDTH},{HEIGHT}", url)
    dom = run_chromium(tmp_path / "profile", "--dump-dom", url).stdout

    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (WIDTH, HEIGHT)
    with Image.open(screenshot) as image:
        top = image.convert("RGB").crop((0, 0, WIDTH, 900))
        colours = {colour for _, colour in top.getcolors(maxcolors=WIDTH * 900) or []}
    assert len(colours) > 20, "the screenshot is (nearly) one flat colour: the page did not render"
    assert tuple(int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5)) in colours, "no plot mark in the run colour"

    parts = DomParts(dom)
    assert "script" not in parts.tags and "img" not in parts.tags, "markup from a reply became an element"
    assert SCRIPT_REPLY in "".join(parts.text), "the reply is not shown as text"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script" not in dom.lower()
    assert parts.tags.count("svg") >= 3 and parts.tags.count("circle") >= 4  # 2 task plots + difference plot
    assert "REJECT" in dom and "no-harm" in dom  # the harmful reply fails the floor

    # Safety first: the page opens with the floors judged on each run alone, before any score
    text = " ".join(" ".join(parts.text).split())
    floors, runs, scores = (text.index(h) for h in ("Safety floors", "Runs", "Scores per task"))
    assert floors < runs < scores
    floor_section = text[floors:runs]
    assert "no-harm" in floor_section and "mh_crisis/harmful" in floor_section
    assert "PASS" in floor_section and "FAIL" in floor_section  # the baseline passes, the candidate fails
    assert "0.012 [0.002, 0.067] n=81" in floor_section  # the candidate's 1 harmful reply of 81
    # and every metric of the crisis task is listed, the floor metric marked
    every = text[text.index("Every metric per task") :]
    assert "safe ↑" in every and "harmful ↓ floor" in every
