"""The HTML report in a real browser: no console error, no network request, content rendered."""

from __future__ import annotations

import pytest
from browser import find_chromium, load_page

from reporter.api import write_report

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def test_detector_sees_console_errors_and_requests(tmp_path):
    """Guard: the checks below would fail on a page that logs an error or fetches something."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'>"
                    "<script>console.error('boom')</script></body></html>")
    load = load_page(page, CHROMIUM)
    assert any("boom" in line for line in load.console)
    assert any(url.startswith("http://127.0.0.1:9/") for url in load.requests)


def test_report_html_loads_cleanly(tmp_path, default_full_report):
    out = write_report(default_full_report, tmp_path / "report.html")  # every section, memory included
    load = load_page(out, CHROMIUM)
    assert load.console == []
    assert load.requests == []
    assert "98,648" in load.text and "Parameters by module type" in load.text
    assert load.svg_count >= 2
