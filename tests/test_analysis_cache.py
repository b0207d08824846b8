"""The analysis cache: a second report reuses the traced sections; any change to their inputs or to
genesis-report's code misses; corrupt, foreign or concurrent entries are never trusted."""

from __future__ import annotations

import json
import os

import pytest
from helpers import default_config, write_yaml

from reporter import analysis_cache
from reporter.pipeline import ReportOptions, config_report


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("GENESIS_REPORT_NO_CACHE", raising=False)
    monkeypatch.setenv("GENESIS_REPORT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "analysis"


def _config(tmp_path, **model) -> str:
    cfg = default_config()
    cfg["model"].update({"seq_len": 64, "dropout": 0.0, "depth": 1, **model})  # one block: what is cached
    # does not depend on the depth, and each traced report costs a third of the default's three blocks
    return str(write_yaml(tmp_path / f"c{len(list(tmp_path.glob('c*.yaml')))}.yaml", cfg))


def _report(path: str, **options):
    return config_report(path, ReportOptions(batch_size=4, target="cpu", **options))


def test_second_report_reuses_both_sections_and_says_so(tmp_path, cache_dir):
    path = _config(tmp_path)
    cold = _report(path)
    assert cold.meta.cached_sections == []
    assert len(list(cache_dir.glob("*.json"))) == 2  # flow and memory
    warm = _report(path)
    assert warm.meta.cached_sections == ["flow", "memory"]
    assert warm.memory == cold.memory and warm.flow == cold.flow
    assert _report(path, cache=False).meta.cached_sections == []  # --no-cache


def _keys(path: str, options: ReportOptions) -> tuple[str, str]:
    """The flow and memory keys a report with these inputs would look up (nothing is traced)."""
    from reporter import pipeline
    from reporter.config.loader import load_config

    config = load_config(path)
    choice = pipeline._config_choice(config, options)
    built = pipeline.build_from_config(config, None, choice.model_cfg)
    batch = pipeline.resolve_batch_size(options, config)
    target = pipeline.choose_report_target(options, config.top.get("device"))
    return (pipeline._flow_key(built, batch), pipeline._memory_key(built, config, options, batch, target))


@pytest.mark.parametrize("change", [
    {"model": {"hidden": 32}}, {"model": {"genesis_version": "pmt_dit@4037ba45"}}, {"options": {"batch_size": 8}},
    {"options": {"target": "H100-80GB"}}, {"options": {"amp_dtype": "bf16"}}, {"options": {"sample_batch": 2}},
    {"training": {"use_amp": False}}, {"training": {"optimizer": "SGD"}}, {"code": "another-version"},
    {"torch": "9.9.9"}])
def test_every_input_of_a_section_is_in_its_key(tmp_path, cache_dir, monkeypatch, change):
    """Each input changed in turn gives another key: a miss, never a stale entry."""
    cfg = default_config()
    cfg["model"].update({"seq_len": 64, "dropout": 0.0})
    base_options = {"batch_size": 4, "target": "cpu"}
    base = _keys(str(write_yaml(tmp_path / "base.yaml", cfg)), ReportOptions(**base_options))
    cfg["model"].update(change.get("model", {}))
    cfg["training"].update(change.get("training", {}))
    if "code" in change:
        monkeypatch.setattr(analysis_cache, "code_fingerprint", lambda: change["code"])
    if "torch" in change:
        monkeypatch.setattr(analysis_cache.metadata, "version", lambda name: change["torch"])
    analysis_cache.environment_fingerprint.cache_clear()
    try:
        flow, memory = _keys(str(write_yaml(tmp_path / "changed.yaml", cfg)),
                             ReportOptions(**{**base_options, **change.get("options", {})}))
    finally:
        analysis_cache.environment_fingerprint.cache_clear()
    assert memory != base[1]
    flow_inputs = "model" in change or "batch_size" in change.get("options", {}) or "code" in change \
        or "torch" in change  # the flow does not depend on target, precision or optimizer
    assert (flow != base[0]) == flow_inputs


def test_corrupt_entries_are_ignored_and_rewritten(tmp_path, cache_dir):
    path = _config(tmp_path)
    cold = _report(path)
    for entry in cache_dir.glob("*.json"):
        data = json.loads(entry.read_text())
        data["payload"] = data["payload"].replace('"batch_size":4', '"batch_size":5')  # checksum now differs
        entry.write_text(json.dumps(data))
    again = _report(path)
    assert again.meta.cached_sections == [] and again.memory == cold.memory
    assert _report(path).meta.cached_sections == ["flow", "memory"]  # rewritten
    for entry in cache_dir.glob("*.json"):
        entry.write_text("{not json")
    assert _report(path).meta.cached_sections == []


def test_entries_others_could_have_planted_are_not_trusted(tmp_path, cache_dir):
    path = _config(tmp_path)
    _report(path)
    for entry in cache_dir.glob("*.json"):
        os.chmod(entry, 0o666)  # writable by anyone: not ours to trust
    assert _report(path).meta.cached_sections == []
    assert oct(cache_dir.stat().st_mode & 0o777) == "0o700"


def test_keys_differ_by_section_and_inputs_and_off_means_off(tmp_path, cache_dir, monkeypatch):
    assert analysis_cache.make_key("flow", {"a": 1}) != analysis_cache.make_key("flow", {"a": 2})
    assert analysis_cache.make_key("flow", {"a": 1}) != analysis_cache.make_key("memory", {"a": 1})
    monkeypatch.setenv("GENESIS_REPORT_NO_CACHE", "1")
    assert analysis_cache.load(analysis_cache.make_key("flow", {"a": 1})) is None
    assert not analysis_cache.store("k", "v")


def test_compiled_templates_come_from_the_cache_and_a_bad_entry_is_compiled_again(cache_dir):
    from reporter.render.environment import environment

    def fresh_env():
        return environment.__wrapped__("html")  # a new environment (and template cache) each time

    name = "html/report.html.j2"
    fresh_env().get_template(name)  # compiled and stored
    env = fresh_env()
    source, filename, _ = env.loader.get_source(env, name)
    bucket = env.bytecode_cache.get_bucket(env, name, filename, source)
    assert bucket.code is not None  # loaded, not compiled
    analysis_cache.store(env.bytecode_cache._key(bucket), "not base64 of a code object")
    assert env.bytecode_cache.get_bucket(env, name, filename, source).code is None
    assert fresh_env().get_template(name).render  # compiled from the source again
    assert env.bytecode_cache.get_bucket(env, name, filename, source).code is not None  # and stored again


def test_no_cache_keeps_charts_and_templates_out_of_the_cache_without_touching_the_environment(tmp_path, cache_dir):
    """--no-cache reaches the drawing of charts and the compiling of templates as an argument (rendering
    nothing into the cache), as it does the traced sections; without it, both are kept."""
    from reporter.cli import main

    path = _config(tmp_path)
    out = tmp_path / "r.html"
    before = dict(os.environ)
    args = ["--config", path, "--target", "cpu", "--batch-size", "4", "--no-memory", "-q", "-o", str(out)]
    assert main([*args, "--no-cache"]) == 0
    assert dict(os.environ) == before
    assert not cache_dir.exists() or not any(cache_dir.iterdir())
    assert main(args) == 0
    assert len([p for p in cache_dir.iterdir() if p.is_file()]) > 2  # flow, charts and compiled templates
