"""The HTML report: escaping, the SVG plots' geometry, the worst samples, and whole pages built
from run directories written the way ``mindgate eval`` writes them."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.report import (
    PlotLayout,
    PlotRow,
    build_report,
    default_report_path,
    dot_whisker_svg,
    esc,
    gather_report,
    plot_domain,
    render_report,
    write_atomically,
)
from harness.store import RunRecordError, read_run
from tests.runfactory import (
    HARMFUL_FLOOR,
    OPTIONS,
    QUIZ_NON_INFERIOR,
    QUIZ_TARGET,
    crisis_row,
    crisis_rows,
    quiz_rows,
    rules_file,
    write_run,
)

SVG = "{http://www.w3.org/2000/svg}"
SCRIPT_REPLY = "<script>alert(1)</script> and <img src=x onerror=alert(2)> \"quoted\" & 'single'"


class Tags(HTMLParser):
    """Start tags and text of a page, as a browser's parser would split them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def elements(svg: str, name: str, css_class: str | None = None) -> list[ET.Element]:
    found = ET.fromstring(svg).iter(f"{SVG}{name}")
    return [element for element in found if css_class is None or element.get("class") == css_class]


# ---- escaping ------------------------------------------------------------------------------------


def test_esc_escapes_markup_and_both_quotes() -> None:
    assert esc("<script>\"a\" & 'b'</script>") == "&lt;script&gt;&quot;a&quot; &amp; &#x27;b&#x27;&lt;/script&gt;"
    assert esc(None) == "None" and esc(0.5) == "0.5"


# ---- SVG plots -----------------------------------------------------------------------------------

LAYOUT = PlotLayout(width=500, label_width=100, numbers_width=100, row_height=20, top=30, domain=(0.0, 1.0))


def test_whiskers_and_dots_sit_at_the_interval_and_the_value() -> None:
    svg = dot_whisker_svg([PlotRow("a", 0.5, 0.25, 0.75), PlotRow("b", 0.1, 0.0, 0.3)], title="t", layout=LAYOUT)
    # plot area from x=100 to x=400: 0.25 -> 175, 0.75 -> 325, 0.5 -> 250; row centres at 40 and 60
    first, second = elements(svg, "line", "whisker")
    assert [float(first.get(k, "nan")) for k in ("x1", "x2", "y1", "y2")] == [175.0, 325.0, 40.0, 40.0]
    assert [float(second.get(k, "nan")) for k in ("x1", "x2", "y1", "y2")] == [100.0, 190.0, 60.0, 60.0]
    dots = elements(svg, "circle", "dot")
    assert [(float(d.get("cx", "nan")), float(d.get("cy", "nan"))) for d in dots] == [(250.0, 40.0), (130.0, 60.0)]
    caps = elements(svg, "line", "cap")
    assert sorted(float(cap.get("x1", "nan")) for cap in caps) == [100.0, 175.0, 190.0, 325.0]
    numbers = [text.text for text in elements(svg, "text", "numbers")]
    assert numbers == ["0.500 [0.250, 0.750]", "0.100 [0.000, 0.300]"]


def test_missing_values_and_bounds_draw_no_mark() -> None:
    rows = [
        PlotRow("r1", None, 0.1, 0.2),
        PlotRow("r2", math.nan, 0.1, 0.2),
        PlotRow("r3", 0.4, None, math.nan),
        PlotRow("r4", 0.6, -math.inf, 0.7),
    ]
    svg = dot_whisker_svg(rows, layout=LAYOUT)
    assert len(elements(svg, "circle", "dot")) == 2  # r3 and r4 have a value
    assert elements(svg, "line", "whisker") == []  # no row has two finite bounds
    assert [text.text for text in elements(svg, "text", "missing")] == ["no value", "no value"]
    assert "nan" not in svg.lower() and "inf" not in svg.lower()


def test_plot_domain_keeps_the_unit_interval_and_widens_beyond_it() -> None:
    assert plot_domain([PlotRow("a", 0.3, 0.1, 0.9)]) == (0.0, 1.0)
    assert plot_domain([PlotRow("a", None)]) == (0.0, 1.0)
    low, high = plot_domain([PlotRow("words", 120.0, 100.0, 140.0)])
    assert low == pytest.approx(98.0) and high == pytest.approx(142.0)
    low, high = plot_domain([PlotRow("d", -0.02, -0.08, 0.04)], reference=0.0)
    assert low == pytest.approx(-0.084) and high == pytest.approx(0.084)  # symmetric about the reference


def test_the_plot_escapes_its_text_and_parses_as_svg() -> None:
    svg = dot_whisker_svg([PlotRow('<b>run</b>"x"', 0.5, 0.4, 0.6, note="<i>n</i>")], title="<t>&", layout=LAYOUT)
    assert ET.fromstring(svg).tag == f"{SVG}svg"
    assert not elements(svg, "b") and not elements(svg, "i")
    assert "&lt;b&gt;run&lt;/b&gt;&quot;x&quot;" in svg and "&lt;t&gt;&amp;" in svg


def test_a_long_label_is_cut_in_the_middle_but_kept_whole_in_its_tooltip() -> None:
    label = "20261124-000801-smollm2-135m-instruct-144413-with-a-very-long-adapter-name"
    svg = dot_whisker_svg([PlotRow(label, 0.5)], layout=LAYOUT)
    (text,) = elements(svg, "text", "label")
    shown = text[0].tail or ""
    assert shown.startswith("202611") and shown.endswith("name") and "…" in shown and len(shown) < len(label)
    assert text[0].text == label


# ---- samples and pages ---------------------------------------------------------------------------


def two_runs(tmp_path: Path, candidate_crisis: list[dict[str, object]] | None = None) -> tuple[Path, Path]:
    baseline = write_run(tmp_path / "runs", "base", {"mh_crisis": crisis_rows(), "quiz": quiz_rows(range(100))})
    crisis = candidate_crisis or crisis_rows()
    candidate = write_run(
        tmp_path / "runs", "cand", {"mh_crisis": crisis, "quiz": quiz_rows(range(4, 102))}, adapter="sft"
    )
    return baseline, candidate


def test_the_worst_samples_are_the_lowest_scores_with_reply_and_explanation(tmp_path: Path) -> None:
    rows = [*crisis_rows(unsafe=[3, 9]), crisis_row("evil", SCRIPT_REPLY, safe=False, harmful=True)]
    run = write_run(tmp_path, "r", {"mh_crisis": rows, "quiz": quiz_rows([0, 1], n=6)})
    data = gather_report([run], samples_per_task=3)
    (summary,) = data.runs
    crisis = summary.worst["mh_crisis"]
    assert [sample.item for sample in crisis] == ["c3", "c9", "evil"]  # safe = 0, file order among ties
    assert crisis[2].replies == (SCRIPT_REPLY,) and crisis[2].reply_kind == "reply"
    evidence = dict(crisis[2].evidence)
    assert evidence["answer"] == "unsafe" and "failed: acknowledges, refers, harmful" in evidence["explanation"]
    assert evidence["failed rubric items"] == "acknowledges, refers, harmful"
    quiz = summary.worst["quiz"]
    assert [sample.item for sample in quiz] == ["q2", "q3", "q4"]
    assert quiz[0].reply_kind == "chosen option" and quiz[0].replies == (f" {OPTIONS[0]}",)
    assert quiz[0].target == f" {OPTIONS[QUIZ_TARGET]}" and "(B) beta" in (quiz[0].prompt or "")
    assert summary.scores["mh_crisis"].metric == "safe" and summary.scores["mh_crisis"].n == len(rows)


def test_a_lower_is_better_main_metric_ranks_the_highest_first(tmp_path: Path) -> None:
    from harness.report import worst_samples

    rows = [crisis_row(f"c{i}", "ok", safe=i != 2, harmful=i == 2) for i in range(5)]
    run = read_run(write_run(tmp_path, "r", {"mh_crisis": rows}))
    assert [s.item for s in worst_samples(run, "mh_crisis", "harmful", higher_is_better=False, count=2)] == [
        "c2",
        "c0",
    ]


def test_a_page_shows_run_text_only_as_text(tmp_path: Path) -> None:
    rows = [crisis_row("evil", SCRIPT_REPLY, safe=False), *crisis_rows(n=20)]
    run = write_run(tmp_path / "runs", "run-<u>1", {"mh_crisis": rows})
    page = render_report(gather_report([run]))
    parsed = Tags(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags and "u" not in parsed.tags
    assert SCRIPT_REPLY in "".join(parsed.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page.lower()
    # self-contained: no tag loads anything (the SVG namespace is an identifier, not a fetch)
    assert not re.search(r"<[^>]*\s(?:src|href)\s*=", page)
    assert "default-src 'none'" in page


def test_a_comparison_page_has_the_paired_differences_and_the_gate(tmp_path: Path) -> None:
    baseline, candidate = two_runs(tmp_path)
    rules = rules_file(tmp_path, HARMFUL_FLOOR, QUIZ_NON_INFERIOR)
    data = gather_report([baseline, candidate], rules_path=rules)
    (versus,) = data.versus
    assert data.baseline_run_id == "base" and versus.run_id == "cand"
    assert versus.gate is not None and versus.gate.verdict == "accept" and versus.comparison is not None
    difference = versus.comparison.get("quiz", "acc")
    page = render_report(data)
    assert "cand against the baseline base" in page
    assert f"{difference.difference:+.3f} [{difference.ci_low:+.3f}, {difference.ci_high:+.3f}]" in page
    assert 'class="accept">ACCEPT<' in page and "quiz-ni" in page and "no-harm" in page
    assert page.count('class="reference"') == 1  # one difference plot, with its zero line


def test_an_unusable_gate_is_reported_on_the_page_not_raised(tmp_path: Path) -> None:
    baseline, candidate = two_runs(tmp_path)
    missing = tmp_path / "no-such-rules.yaml"
    out = build_report([candidate], baseline_dir=baseline, out=tmp_path / "r.html", rules_path=missing)
    page = out.read_text()
    assert "The gate cannot judge these runs" in page and esc(str(missing)) in page
    assert "Paired differences" in page and "cand against the baseline base" in page


def test_runs_that_cannot_be_paired_show_why(tmp_path: Path) -> None:
    baseline = write_run(tmp_path, "a", {"quiz": quiz_rows(range(5), n=10)})
    other = write_run(tmp_path, "b", {"mh_crisis": crisis_rows(n=10)})
    page = render_report(gather_report([baseline, other]))
    assert "These runs cannot be compared" in page and "share no task" in page


def test_an_unreadable_run_is_an_error_naming_the_file(tmp_path: Path) -> None:
    run = write_run(tmp_path, "r", {"quiz": quiz_rows(range(3), n=5)})
    (run / "run.json").write_text("{not json")
    with pytest.raises(RunRecordError, match=r"r/run.json: not valid JSON"):
        gather_report([run])


def test_default_paths_and_atomic_writes(tmp_path: Path) -> None:
    assert default_report_path(["r1"], tmp_path) == tmp_path / "r1.html"
    assert default_report_path(["a", "b"], tmp_path) == tmp_path / "compare-a-b.html"
    assert default_report_path(["a", "b", "c", "d"], tmp_path).name == "compare-a-b-and-2-more.html"
    assert default_report_path(["../x/y"], tmp_path) == tmp_path / "-x-y.html"
    target = tmp_path / "deep" / "page.html"
    write_atomically(target, "old")
    write_atomically(target, "new")
    assert target.read_text() == "new" and [p.name for p in target.parent.iterdir()] == ["page.html"]


def test_the_page_opens_with_the_safety_floors_of_each_run(tmp_path: Path) -> None:
    baseline, candidate = two_runs(tmp_path, candidate_crisis=crisis_rows(harmful=[5]))
    rules = rules_file(tmp_path, HARMFUL_FLOOR, QUIZ_NON_INFERIOR)
    for runs in ([candidate], [baseline, candidate]):  # with and without a baseline
        page = render_report(gather_report(runs, rules_path=rules))
        floors, scores = page.index("<h2>Safety floors</h2>"), page.index("<h2>Scores per task</h2>")
        assert floors < page.index("<h2>Runs</h2>") < scores
        section = page[floors:scores]
        assert "no-harm" in section and "mh_crisis/harmful" in section
        assert 'class="fail">FAIL<' in section and "0.013 [0.002, 0.067]" in section and "n=80" in section
        assert "(1 of 80)" in section  # the evidence of the failing floor
    page = render_report(gather_report([baseline], rules_path=rules))
    assert 'class="pass">PASS<' in page[page.index("<h2>Safety floors</h2>") : page.index("<h2>Runs</h2>")]


def test_every_metric_of_a_task_is_listed_with_floor_metrics_marked(tmp_path: Path) -> None:
    rows = crisis_rows(harmful=[2])
    for row in rows:  # a task that logs more metrics than the factory's: the report shows them all
        row["metrics"] = [*row["metrics"], "referral_imminent"]
        row["referral_imminent"] = None if row["doc"]["id"] != "c4" else 0.0
    run = write_run(tmp_path / "runs", "r", {"mh_crisis": rows})
    page = render_report(gather_report([run], rules_path=rules_file(tmp_path, HARMFUL_FLOOR)))
    section = page[page.index("<h2>Every metric per task</h2>") :]
    for metric in ("safe", "harmful", "referral_imminent"):
        assert f"<td>{metric}" in section, metric
    assert 'harmful ↓ <span class="fail">floor</span>' in section
    assert "0.000 [0.000, 0.793]" in section  # referral_imminent over its one item


def test_a_run_stopped_by_the_gate_is_marked_as_partial(tmp_path: Path) -> None:
    run = write_run(tmp_path / "runs", "r", {"mh_crisis": crisis_rows(harmful=[1])}, status="stopped_by_gate")
    record = json.loads((run / "run.json").read_text())
    stop = {"rule": "no-harm", "task": "mh_crisis", "items_seen": 16, "items_planned": 124, "evidence": "E."}
    (run / "run.json").write_text(json.dumps({**record, "gate_stop": stop}))
    page = render_report(gather_report([run], rules_path=rules_file(tmp_path, HARMFUL_FLOOR)))
    assert "Partial run: the gate stopped this evaluation after 16 of 124 items of mh_crisis" in page
