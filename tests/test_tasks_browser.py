"""The task index in a real browser: the sort script runs under the page's CSP and sorts by value."""

from __future__ import annotations

import time

import pytest
from browser import _Pipe, find_chromium

from reporter.analysis.meta import build_meta
from reporter.render import render_document
from reporter.tasks.model import IndexRow, TaskIndex

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

ORDER = "[...document.querySelectorAll('#tasks tbody tr')].map(r => r.cells[0].textContent).join(',')"


def _index() -> TaskIndex:
    rows = [IndexRow(name="a", path="a", report_link="a/reports/report.html", parameters=300, best_loss=0.5),
            IndexRow(name="b", path="b", report_link="b/reports/report.html", parameters=100_000, best_loss=0.05),
            IndexRow(name="c", path="c", report_link=None, error="invalid YAML"),
            IndexRow(name="d", path="d", report_link="d/reports/report.html", parameters=20, best_loss=1e-3)]
    return TaskIndex(meta=build_meta([], {}), root="tasks", rows=rows, failed_rows=1)


def test_index_sorts_by_clicked_column(tmp_path):
    page = tmp_path / "index.html"
    page.write_text(render_document("index", _index(), "html").text)
    # Chromium's helper processes may still write to the profile after the browser is killed, so the
    # profile lives in tmp_path (cleaned up leniently by pytest) rather than a TemporaryDirectory.
    pipe = _Pipe(CHROMIUM, str(tmp_path / "profile"))
    try:
        target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
        session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            pipe.call(f"{domain}.enable", session)
        pipe.call("Page.navigate", session, url=page.as_uri())
        pipe.wait_for("Page.loadEventFired", timeout=60)
        time.sleep(0.3)

        def run(expression: str):
            return pipe.call("Runtime.evaluate", session, expression=expression,
                             returnByValue=True)["result"].get("value")

        assert run(ORDER) == "a,b,c,d"
        click = "document.querySelectorAll('#tasks th button')[{}].click()"
        run(click.format(2))  # Parameters: numeric ascending, tasks without a value last
        assert run(ORDER) == "d,a,b,c"
        run(click.format(2))
        assert run(ORDER) == "b,a,d,c"
        run(click.format(3))  # Best loss: 1e-3 < 0.05 < 0.5 (numbers, not text)
        assert run(ORDER) == "d,b,a,c"
        assert run("document.querySelectorAll('#tasks th')[3].getAttribute('aria-sort')") == "ascending"
        errors = [e for e in pipe.events if e.get("method") in ("Log.entryAdded", "Runtime.exceptionThrown")]
        assert errors == []  # a CSP violation (script blocked) would be logged here
    finally:
        pipe.close()
