"""Config reports: exact counts, tables that sum to the total, normalization, verbose listing."""

from __future__ import annotations

import pytest
from helpers import CONFIGS, default_config, write_yaml

from reporter.pipeline import ReportOptions, config_report


@pytest.fixture(scope="module")
def default_report():
    return config_report(str(CONFIGS / "default.yaml"), ReportOptions(verbose=True, memory=False))


def test_default_totals_are_exact(default_report):
    s = default_report.summary
    assert s.model_class == "PMTDit"
    assert s.total_parameters == 98_648
    assert s.trainable_parameters == 98_648 and s.frozen_parameters == 0
    assert s.buffer_elements == 22 and s.state_dict_elements == 98_670 and s.state_dict_keys == 79
    assert s.size_fp32_bytes == 98_648 * 4 and s.size_bf16_bytes == 98_648 * 2


def test_parameter_tables_sum_to_total_and_keep_non_leaf_owners(default_report):
    p = default_report.parameters
    assert sum(g.parameters for g in p.by_type) == p.total == 98_648
    assert sum(g.parameters for g in p.by_top_level) == p.total
    by_type = {g.name: g.parameters for g in p.by_type}
    # The seed inspector dropped these (owned by non-leaf modules): pos, in_proj_*, gates.
    assert by_type["PMTDit"] == 82_560
    assert by_type["MultiheadAttention"] == 3 * (3 * 16 * 16 + 3 * 16)
    assert by_type["DiTBlock"] == 6
    top = {g.name: g.parameters for g in p.by_top_level}
    assert top == {"pos": 82_560, "embedder": 656, "t_mlp": 2_200, "y_mlp": 248, "blocks": 12_918,
                   "ln_out": 32, "out_proj": 34}
    assert [c.id for c in p.charts] == ["params-by-type", "params-by-top-level"]


def test_verbose_lists_every_module_with_shapes(default_report):
    rows = {r.name: r for r in default_report.modules.rows}
    assert rows[""].total_parameters == 98_648
    attn = rows["blocks.0.attn"]
    assert attn.type == "MultiheadAttention"
    shapes = {t.name: t.shape for t in attn.tensors}
    assert shapes["blocks.0.attn.in_proj_weight"] == [48, 16]
    assert sum(r.own_parameters for r in default_report.modules.rows) == 98_648


def test_normalization_has_channel_names_and_both_copies(default_report):
    n = default_report.normalization
    assert [c.source for c in n.copies] == ["model", "data"]
    assert not n.copies_differ
    assert [v.channel for v in n.copies[0].signal] == ["charge", "time", "x", "y", "z"]
    assert [v.channel for v in n.copies[0].label] == ["Energy", "Zenith", "Azimuth", "X", "Y", "Z"]
    assert n.copies[0].signal[2].offset == -600.0 and n.copies[0].label[0].scale == 1e8
    assert n.applied_in == "dataloader"


def test_config_section_marks_sources(default_report):
    model = {f.key: f for f in default_report.config.sections["model"]}
    assert model["hidden"].source == "file" and model["hidden"].value == 16
    assert model["kernel_size"].source == "default"
    assert model["genesis_version"].source == "extension" and model["genesis_version"].value == "pmt_dit@27a044fa"
    assert "pos_embedding" not in model and "dit_layout" not in model


def test_changing_the_config_changes_the_counts(tmp_path):
    data = default_config()
    data["model"]["depth"] = 4
    report = config_report(str(write_yaml(tmp_path / "d4.yaml", data)), ReportOptions(memory=False))
    assert report.summary.total_parameters == 98_648 + 4_306


def test_ln_transform_still_yields_a_model_report():
    report = config_report(str(CONFIGS / "ln_transform.yaml"), ReportOptions(memory=False))
    assert report.summary.total_parameters == 37_641_746 - (2 * 512 * 512 + 2 * 512 + 7 * 512)
    assert any(f.where == "training.epochs" for f in report.findings)


def test_large_config_builds_without_allocating():
    """A ~1.2 B-parameter config must not need its weights in RAM (meta device)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from reporter.config import load_config_mapping
    from reporter.pipeline import ReportOptions, assemble, build_from_config

    cfg = load_config_mapping({"model": {"hidden": 2048, "depth": 24, "heads": 16}})
    built = build_from_config(cfg)
    # Summary, parameters and the data flow (traced on fake tensors); not the memory section, whose five
    # traced steps of 1.2 B parameters take tens of seconds.
    report = assemble(built, cfg, ReportOptions(memory=False), [], subject="config", config_source="inline")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert report.summary.total_parameters > 1_000_000_000
    assert (after - before) * 1024 < 500 * 2**20


def test_flow_section_follows_the_config(tmp_path):
    report = config_report(str(CONFIGS / "default.yaml"), ReportOptions(batch_size=64, memory=False))
    flow = report.flow
    assert flow.batch_size == 64 and flow.total_params == 98_648
    assert flow.tokens.shape == [64, 5160, 16]
    repeated = [s for stage in flow.stages for s in stage.steps if s.kind == "repeat"]
    assert len(repeated) == 1 and repeated[0].repeat == 3
    assert report.meta.options["batch_size"] == 64


def test_batch_size_defaults_to_config_then_512(tmp_path):
    assert config_report(str(CONFIGS / "cnn.yaml"), ReportOptions(memory=False)).flow.batch_size == 16
    path = write_yaml(tmp_path / "nodata.yaml", {"model": {"hidden": 16, "depth": 1, "heads": 2}})
    assert config_report(str(path), ReportOptions(memory=False)).flow.batch_size == 512


def test_html_and_markdown_of_one_report_draw_each_chart_once(default_report):
    from reporter.render import render_document
    from reporter.render.charts import _drawn

    _drawn.cache_clear()
    html = render_document("report", default_report, "html").text
    markdown = render_document("report", default_report, "md", stem="r")
    charts = [name.removeprefix("r_files/").removesuffix(".svg") for name in markdown.files]
    assert {"params-by-type", "params-by-top-level"} <= set(charts)
    info = _drawn.cache_info()
    assert info.misses == len(charts) and info.hits == len(charts)
    for chart_id in charts:  # the same drawing in both documents
        svg = markdown.files[f"r_files/{chart_id}.svg"]
        assert svg[svg.find("<g id="):][:200].replace('id="', f'id="{chart_id}-') in html
