"""Golden outputs: a few reports as the terminal view, Markdown and JSON, compared with tests/golden/.

They catch an unintended change anywhere in a report (findings, summary, parameters, data flow,
normalization, configuration, checkpoint, provenance; the module listing with --verbose) for about a
second. The memory section is left out (--no-memory): with the default target its figures depend on this
machine's RAM, and reports/default.* (tests/test_example_reports.py) already pin it byte for byte for a
named GPU target.

After an intended change, regenerate them with ONE command and review the diff:

    python -m pytest tests/test_golden.py --update-golden
    git diff tests/golden/

Machine-dependent text is normalised before comparing and writing: the generation time is fixed with
SOURCE_DATE_EPOCH, inputs are given as relative paths, and the genesis-report, torch and Python versions
read `<version>`. The checkpoint is made here with weights whose sums are exact in float32, so its
statistics do not depend on the CPU's summation order; its bytes (size, sha256) do depend on torch's
file format, which constraints.txt pins.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
import torch
from helpers import REPO
from inprocess import run_main
from test_checkpoint_helpers import forget_module, load_config_module

GOLDEN = Path(__file__).resolve().parent / "golden"
CHECKPOINT = "icecube_diffusion_default_best.pt"
UPDATE = "python -m pytest tests/test_golden.py --update-golden"

# name: (arguments after `genesis-report`, formats kept)
CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "default": (["--config", "configs/default.yaml"], ("txt", "md", "json")),
    "dit_film_era_a-verbose": (["--config", "configs/dit_film_era_a.yaml", "--verbose"], ("txt", "md")),
    "ln_transform": (["--config", "configs/ln_transform.yaml"], ("txt", "md")),
    "cnn": (["--config", "configs/cnn.yaml"], ("txt", "md")),
    "checkpoint": (["--checkpoint", CHECKPOINT], ("txt", "md", "json")),
}


def _exact(tensor: torch.Tensor) -> torch.Tensor:
    """Multiples of 1/8 in [-0.5, 0.375]: every sum and sum of squares over them is exact in float32."""
    values = (torch.arange(tensor.numel(), dtype=torch.float32) % 8 - 4) / 8
    return values.reshape(tensor.shape).to(tensor.dtype)


@pytest.fixture(scope="module")
def checkpoint_folder(tmp_path_factory) -> Path:
    """A GENESIS trainer checkpoint of configs/default.yaml's model (the same bytes on every machine)."""
    from reporter.models import build_model

    folder = tmp_path_factory.mktemp("golden-ckpt")
    config, module_folder = load_config_module(folder)
    try:
        model = build_model({"hidden": 16, "depth": 3, "heads": 8, "fusion": "SUM"})
        trained = {name for name, _ in model.named_parameters()}
        state = {k: _exact(v) if k in trained else v.clone() for k, v in model.state_dict().items()}
        state["blocks.1.mlp.fc1.weight"][3, 2] = float("nan")
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=3)
        optimizer = opt.state_dict()
        optimizer["state"] = {i: {"step": torch.tensor(24.0), "exp_avg": torch.zeros_like(p),
                                  "exp_avg_sq": torch.zeros_like(p)} for i, p in enumerate(model.parameters())}
        # Plain floats, not numpy scalars: numpy 1 and 2 pickle those under different names.
        torch.save({
            "epoch": 11, "global_step": 4321, "model_state_dict": state, "optimizer_state_dict": optimizer,
            "scheduler_state_dict": sched.state_dict(), "best_loss": 0.0421,
            "metrics": {"train/epoch_loss": 0.05, "train/epoch_time": 12.5},
            "early_stopping_state_dict": {"counter": 1, "best_score": -0.0421, "early_stop": False,
                                          "best_epoch": 10, "best_weights": {k: v.clone() for k, v in state.items()},
                                          "patience": 4, "min_delta": -1e-4, "mode": "min", "baseline": None},
            "config": {"experiment_name": "icecube_diffusion_default",
                       "model": config.ModelConfig(hidden=16, depth=3, heads=8, fusion="SUM"),
                       "training": config.TrainingConfig(), "data": config.DataConfig(), "device": "cuda"},
        }, folder / CHECKPOINT)
    finally:
        forget_module("config", module_folder)
    return folder


def normalise(text: str) -> str:
    """Versions of genesis-report, torch and Python (the rest is fixed by the inputs and SOURCE_DATE_EPOCH)."""
    text = re.sub(r'("(?:version|torch_version|python_version)": )"[^"]*"', r'\1"<version>"', text)
    return re.sub(r"\b(genesis-report|torch) \d+\.\d+\S*?(?=[\s),·]|$)", r"\1 <version>", text, flags=re.M)


def render_case(name: str, out: Path, checkpoint_folder: Path) -> dict[str, str]:
    """{format: normalised text} of one case, made by the command line as a user runs it."""
    args, formats = CASES[name]
    cwd = checkpoint_folder if name == "checkpoint" else REPO
    files = [a for fmt in formats if fmt != "txt" for a in ("-o", str(out / f"report.{fmt}"))]
    result = run_main(*args, "--no-memory", *files, cwd=cwd, env={"SOURCE_DATE_EPOCH": "1760000000"})
    assert result.returncode == 0, result.stderr
    texts = {fmt: result.stdout if fmt == "txt" else (out / f"report.{fmt}").read_text(encoding="utf-8")
             for fmt in formats}
    return {fmt: normalise(text) for fmt, text in texts.items()}


@pytest.mark.parametrize("name", CASES)
def test_golden_output(name, tmp_path, checkpoint_folder, request):
    rendered = render_case(name, tmp_path, checkpoint_folder)
    if request.config.getoption("--update-golden"):
        GOLDEN.mkdir(exist_ok=True)
        for fmt, text in rendered.items():
            (GOLDEN / f"{name}.{fmt}").write_text(text, encoding="utf-8")
        return
    for fmt, text in rendered.items():
        path = GOLDEN / f"{name}.{fmt}"
        assert path.is_file(), f"{path.relative_to(REPO)} is missing: run {UPDATE}"
        expected = path.read_text(encoding="utf-8")
        if text != expected:
            diff = difflib.unified_diff(expected.splitlines(), text.splitlines(), f"golden/{path.name}", "now",
                                        lineterm="", n=2)
            shown = "\n".join(list(diff)[:80])
            pytest.fail(f"{path.relative_to(REPO)} differs from the current output (first lines of the diff "
                        f"below). If the change is intended, run {UPDATE} and review `git diff tests/golden/`.\n"
                        f"{shown}", pytrace=False)


def test_no_stray_golden_files():
    expected = {f"{name}.{fmt}" for name, (_, formats) in CASES.items() for fmt in formats}
    assert {p.name for p in GOLDEN.iterdir()} == expected, f"tests/golden/ does not match CASES in {__name__}"
