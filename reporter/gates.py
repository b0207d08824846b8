"""CI gates: turn report facts into a pass/fail verdict with reasons (exit status 1 on failure).

Gates only read the report (via `reporter.report_facts.key_facts`), so they run after the report is
written and never change it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reporter.errors import InputError
from reporter.render.environment import fmt_bytes, plural
from reporter.render.escape import md_code, md_inline, md_text, visible
from reporter.report.model import Report
from reporter.report_facts import key_facts

# --fail-on categories; any other token is matched against finding codes (exact, or a prefix ending in '.').
FAIL_ON_CATEGORIES = {
    "nan": "NaN or infinite values in the checkpoint (tensors or best loss)",
    "unsafe": "security findings: the file asks to run code when loaded",
    "error": "findings of severity error or above",
    "warning": "findings of severity warning or above",
}
_SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "security": 3}
_SEVERITY_NOUN = {"security": ("security finding",), "info": ("info", "info")}  # "19 warnings", "3 info"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.I)
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1000, "KIB": 1024, "M": 1024**2, "MB": 1000**2, "MIB": 1024**2,
          "G": 1024**3, "GB": 1000**3, "GIB": 1024**3, "T": 1024**4, "TB": 1000**4, "TIB": 1024**4}


@dataclass
class Gates:
    fail_on: list[str] = field(default_factory=list)
    max_params: int | None = None
    max_memory_bytes: int | None = None

    def __bool__(self) -> bool:
        return bool(self.fail_on) or self.max_params is not None or self.max_memory_bytes is not None


def parse_fail_on(text: str) -> list[str]:
    """'nan,unsafe' → ['nan', 'unsafe']; a token that is neither a category nor code-like is an error."""
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    for token in tokens:
        if token not in FAIL_ON_CATEGORIES and not re.fullmatch(r"[a-z0-9_.-]+", token):
            raise InputError(f"--fail-on: unknown condition {token!r} (use {', '.join(FAIL_ON_CATEGORIES)} "
                             "or a finding code such as config.unknown-key)")
    return tokens


def parse_size(text: str) -> int:
    """'24GiB', '24G' (binary), '24GB' (decimal), '1500000' (bytes) → bytes."""
    match = _SIZE.match(text)
    if not match:
        raise InputError(f"--max-memory: cannot read size {text!r} (examples: 24GiB, 80GB, 512MiB)")
    unit = (match[2] or "").upper()
    return int(float(match[1]) * _UNITS[unit])


def evaluate(report: Report, gates: Gates) -> list[str]:
    """Reasons the report fails the gates (empty when it passes)."""
    return evaluate_facts(key_facts(report), report.findings, gates)


def evaluate_facts(facts: dict[str, Any], findings: list, gates: Gates) -> list[str]:
    reasons: list[str] = []
    for token in gates.fail_on:
        if token == "nan":
            if facts["non_finite"]:
                reasons.append("nan: the checkpoint holds NaN or infinite values")
        elif token in ("unsafe", "error", "warning"):
            floor = {"unsafe": 3, "error": 2, "warning": 1}[token]
            hits = [f for f in findings if _SEVERITY_RANK[str(f.severity)] >= floor]
            if hits:
                reasons.append(f"{token}: {plural(len(hits), 'finding')}: " + "; ".join(f"{f.code}" for f in hits[:5])
                               + (" …" if len(hits) > 5 else ""))
        else:
            hits = [f for f in findings if f.code == token or (token.endswith(".") and f.code.startswith(token))]
            if hits:
                reasons.append(f"{token}: {plural(len(hits), 'finding')}: {hits[0].message}")
    if gates.max_params is not None and facts["total_parameters"] > gates.max_params:
        reasons.append(f"max-params: {facts['total_parameters']:,} parameters > limit {gates.max_params:,}")
    if gates.max_memory_bytes is not None:
        peak = facts["peak_memory_bytes"]
        where = f"batch size {facts['batch_size']}" + (f", target {facts['target']}" if facts["target"] else "")
        if peak is None:
            reasons.append(f"max-memory: the report has no memory prediction ({where}), so the limit cannot be "
                           "checked")
        elif peak > gates.max_memory_bytes:
            reasons.append(f"max-memory: predicted peak {_size(peak)} ({int(peak):,} B) at {where} > limit "
                           f"{_size(gates.max_memory_bytes)} ({gates.max_memory_bytes:,} B)")
    return reasons


def _size(value: float) -> str:
    """Bytes in the unit the report's tables use (385.34 KiB, 3.97 TiB)."""
    return fmt_bytes(value)


def summary_markdown(report: Report, reasons: list[str], written: list[str], gates: Gates | None = None) -> str:
    """A compact block for `$GITHUB_STEP_SUMMARY`: verdict, headline numbers, reasons, files."""
    facts = key_facts(report)
    verdict = "❌ failed" if reasons else "✅ passed"
    lines = [f"### genesis-report: {md_text(report.title)} — {verdict if gates else 'report'}", ""]
    lines += ["| Parameters | Architecture | Batch size | Predicted peak memory | Best loss | Findings |",
              "|---:|---|---:|---:|---:|---|"]
    peak = facts["peak_memory_bytes"]
    best = facts["best_loss"]
    counts = ", ".join(plural(n, *_SEVERITY_NOUN.get(sev, (sev,)))
                       for sev, n in facts["findings"].items() if n) or "none"
    lines.append(f"| {facts['total_parameters']:,} | {md_text(facts['model_class'])} "
                 f"({md_code(facts['architecture'], cell=True)}) | "
                 f"{facts['batch_size'] if facts['batch_size'] is not None else '—'} | "
                 f"{_size(peak) if peak is not None else '—'} | {best if best is not None else '—'} | {counts} |")
    if reasons:
        lines += ["", "**Gate failures:**", *[f"- {md_inline(r)}" for r in reasons]]
    if written:
        lines += ["", "Files: " + ", ".join(md_code(w) for w in written)]
    return "\n".join(lines) + "\n\n"


def append_summary(path: str | Path, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise InputError(f"cannot append the summary: {exc.strerror or exc}", path) from None


def add_arguments(parser: Any) -> None:
    """The CI-gate flags (an argparse group) shared by the report and task-folder forms."""
    group = parser.add_argument_group("CI gates (exit 1 with the reasons, after writing the report)")
    group.add_argument("--fail-on", action="append", default=[], metavar="LIST",
                       help="comma-separated: " + ", ".join(FAIL_ON_CATEGORIES) + " or finding codes")
    group.add_argument("--max-params", type=int, metavar="N", help="fail when the model has more parameters")
    group.add_argument("--max-memory", metavar="SIZE",
                       help="fail when predicted peak memory (chosen batch size and target) exceeds SIZE, e.g. 24GiB")
    group.add_argument("--summary-md", metavar="PATH", help="append a compact Markdown summary (e.g. "
                       "$GITHUB_STEP_SUMMARY)")


def from_args(args: Any) -> Gates:
    """Parse gate flags before any work, so a typo is a bad-input error (exit 2), not a late failure."""
    fail_on = [token for text in (args.fail_on or []) for token in parse_fail_on(text)]
    if args.max_params is not None and args.max_params < 0:
        raise InputError("--max-params must not be negative")
    return Gates(fail_on=fail_on, max_params=args.max_params,
                 max_memory_bytes=parse_size(args.max_memory) if args.max_memory else None)


def conclude(report: Report, gates: Gates, summary_md: str | None, written: list[str]) -> int:
    """After the report is written: check gates, print reasons, append the summary; 1 if a gate failed."""
    import sys

    reasons = evaluate(report, gates) if gates else []
    for reason in reasons:
        print(f"genesis-report: gate failed: {visible(reason)}", file=sys.stderr)
    if summary_md:
        append_summary(summary_md, summary_markdown(report, reasons, written, gates))
    return 1 if reasons else 0
