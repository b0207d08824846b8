"""Build a report from inputs: the one place that decides which analyses run.

Models are built on the meta device (no weight memory: a 1-billion-parameter config costs nothing),
so every count here comes from the real module tree, not from a formula.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reporter import limits
from reporter.analysis.config_section import analyse_config
from reporter.analysis.genesis_model import ModelChoice, choose_for_checkpoint, choose_for_config
from reporter.analysis.meta import build_meta, describe_input
from reporter.analysis.modules import analyse_modules
from reporter.analysis.normalization import analyse_normalization, normalization_copy
from reporter.analysis.parameters import analyse_parameters
from reporter.analysis.summary import analyse_summary
from reporter.config.loader import LoadedConfig, load_config
from reporter.errors import InputError, NoExampleInputs
from reporter.options import DEFAULT_BATCH_SIZE, ReportOptions
from reporter.report.base import Finding, ReportModel, Severity
from reporter.report.flow import FlowSection
from reporter.report.memory import MemorySection
from reporter.report.model import ConfigSource, Report, ReportSubject

if TYPE_CHECKING:
    from reporter.memory.worker import Forked


@dataclass
class BuiltModel:
    """A model built on the meta device, with what the registry knows about it."""

    module: Any  # torch.nn.Module
    spec: Any  # reporter.models.ArchitectureSpec
    model_cfg: dict[str, Any]


def build_from_config(config: LoadedConfig, model_class: str | None = None,
                      model_values: Mapping[str, Any] | None = None) -> BuiltModel:
    """Build on the meta device from ``model_values`` (the chosen `model:` values), else the config's own."""
    import torch

    from reporter.models import get_architecture, resolve_model_config, spec_from_model_class

    model_cfg = resolve_model_config(config.model if model_values is None else model_values)
    try:
        spec = spec_from_model_class(model_class) if model_class else get_architecture(model_cfg["architecture"])
    except InputError as exc:  # the YAML is to blame for an unknown architecture, not for --model-class
        raise type(exc)(exc.problem, exc.path or (None if model_class else config.path)) from None
    try:
        with torch.device("meta"), limits.build_guard():
            module = spec.build(model_cfg)
    except InputError as exc:
        raise InputError(exc.problem, config.path) from None
    except limits.LimitExceeded as exc:
        raise InputError(f"refused, beyond a bound: {exc}", config.path) from None
    except Exception as exc:  # a model constructor rejecting the values: bad input, not a crash
        raise InputError(f"model cannot be built from this config: {type(exc).__name__}: {exc}",
                         config.path) from None
    return BuiltModel(module=module, spec=spec, model_cfg=model_cfg)


def config_report(config_path: str, options: ReportOptions) -> Report:
    """Report on a GENESIS YAML config, as the GENESIS version named (or assumed) builds it."""
    config = load_config(config_path)
    choice = _config_choice(config, options)
    built = build_from_config(config, options.model_class, choice.model_cfg)
    inputs = [describe_input("config", config_path)]
    return assemble(built, config, options, inputs, subject="config", config_source=config_path, choice=choice)


def _config_choice(config: LoadedConfig, options: ReportOptions) -> ModelChoice:
    if options.model_class:  # a third-party class: its own code, no GENESIS version to choose
        return ModelChoice(model_cfg=dict(config.model), genesis=None)
    try:
        return choose_for_config(config, options.genesis_version)
    except InputError as exc:
        raise InputError(exc.problem, exc.path or config.path) from None


def checkpoint_report(checkpoint_path: str, options: ReportOptions, config_path: str | None = None,
                      progress: Any = None) -> Report:
    """Report on a checkpoint: its training state, weights and the model it was trained with.

    The model comes from --config when given, else from the config embedded in the checkpoint, else
    from the state_dict's key names and shapes (what could not be recovered is listed).
    """
    from reporter.checkpoint import read_checkpoint
    from reporter.checkpoint.analyze import analyse_checkpoint
    from reporter.checkpoint.model_check import model_from_checkpoint
    from reporter.checkpoint.sections import config_section
    from reporter.config.loader import load_config_mapping

    given = load_config(config_path) if config_path else None
    ckpt = read_checkpoint(checkpoint_path, progress=progress, digest_cache_on=options.digest_cache,
                           verify_digest=options.verify_digest)  # metadata; the sha256 runs on a thread
    model = model_from_checkpoint(ckpt, _raw_config(given) if given else None, options.genesis_version,
                                  Path(config_path).name if config_path else None)
    embedded = config_section(ckpt)
    findings: list[Finding] = []
    config, config_source = None, checkpoint_path
    given_source: ConfigSource = "checkpoint"
    if given is not None and config_path:
        config, config_source, given_source = given, str(config_path), "file"
        findings += _differences_from_embedded(given, embedded, checkpoint_path)
    elif embedded and isinstance(embedded.get("model"), Mapping):
        try:
            config = load_config_mapping(embedded, path=checkpoint_path)
            config_source = f"{checkpoint_path} (embedded config)"
        except InputError as exc:
            findings.append(Finding(severity=Severity.warning, code="checkpoint.config-unusable",
                                    message=f"embedded config not usable: {exc.problem}", where="config"))
    if config is None and model is not None and model.values:
        config = load_config_mapping({"model": model.values}, path=checkpoint_path)
        config.findings = [f for f in config.findings if f.code != "config.missing-section"]
        config_source, given_source = f"{checkpoint_path} (inferred from the state_dict)", "inferred"
    built, choice, traces = None, None, None
    try:
        if config is not None and model is not None and model.class_name is not None:
            choice = choose_for_checkpoint(config, model)  # the weights decide
            built = build_from_config(config, options.model_class, choice.model_cfg)
        elif config is not None and model is None:  # no state_dict: the config is all there is
            choice = _config_choice(config, options)
            built = build_from_config(config, options.model_class, choice.model_cfg)
    except InputError as exc:  # a config from the file itself must not hide its findings (exit 3)
        if given is not None:
            raise
        built = None
        findings.append(Finding(severity=Severity.warning, code="checkpoint.model-unbuildable",
                                message=f"the model of {config_source} cannot be built: {exc.problem}",
                                where="config"))
    if built is not None and config is not None:
        # the memory steps trace while the weights are read and hashed (two busy threads here)
        traces = start_traces(built, config, options, busy_threads=2)
    section = analyse_checkpoint(ckpt, progress=progress, model=model, while_hashing=options.while_waiting)
    inputs = [describe_input("checkpoint", checkpoint_path, sha256=section.file.sha256,
                             from_cache=section.file.sha256_from_cache)]
    if given is not None and config_path:
        inputs.insert(0, describe_input("config", config_path))
    findings = [*section.security_findings, *section.findings, *findings]
    if built is None or config is None:  # a model is built from a config only
        return _checkpoint_only_report(section, options, inputs, findings)
    report = assemble(built, config, options, inputs, subject="checkpoint", config_source=config_source,
                      findings=findings, given_source=given_source, choice=choice, traces=traces)
    report.checkpoint = section
    if section.training is not None and section.training.epochs_completed is not None:
        report.title += f" · {section.training.epochs_completed} epochs"
    return report


def _differences_from_embedded(given: LoadedConfig, embedded: Any, checkpoint_path: str) -> list[Finding]:
    """Where --config differs from the config the checkpoint was trained with (both with defaults)."""
    from reporter.checkpoint.compare import config_differences, group_config_differences
    from reporter.config.loader import load_config_mapping

    if not isinstance(embedded, Mapping):
        return []
    try:
        trained = load_config_mapping(embedded, path=checkpoint_path)
    except InputError:
        return []
    return group_config_differences(config_differences(_raw_config(given), _raw_config(trained)))


def _checkpoint_only_report(section: Any, options: ReportOptions, inputs: list,
                            findings: list[Finding]) -> Report:
    """A checkpoint whose model cannot be built (unknown keys, a pickled foreign module): file facts only."""
    name = section.file.module_class or section.file.structure
    return Report(meta=build_meta(inputs, options.as_meta()), title=f"{section.file.path} — {name}",
                  subject="checkpoint", findings=findings, summary=None, config=None, parameters=None,
                  normalization=None, checkpoint=section)


def _raw_config(config: LoadedConfig) -> dict[str, Any]:
    """A resolved config as the nested mapping GENESIS would have pickled (for comparisons)."""
    return {**config.top, **{name: dict(values) for name, values in config.sections.items()}}


def model_class_report(options: ReportOptions) -> Report:
    """Report on a `--model-class` model built with its own defaults (no config file)."""
    from reporter.config.loader import load_config_mapping

    config = load_config_mapping({})
    config.findings = [f for f in config.findings if f.code != "config.missing-section"]
    built = build_from_config(config, options.model_class)
    return assemble(built, config, options, [], subject="config", config_source="(none: class defaults)",
                    choice=ModelChoice(model_cfg=dict(config.model), genesis=None))


def module_report(module: Any, *, title: str | None = None, architecture: str | None = None,
                  verbose: bool = False, batch_size: int | None = None) -> Report:
    """Report on a live `torch.nn.Module`: parameter counts and attribution (reporter.api.report_from_module)."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {type(module).__name__}")
    name = architecture or type(module).__name__
    summary = analyse_summary(module, name, {}, notes=["Made from a live nn.Module: no config was read."])
    return Report(
        meta=build_meta([], {"verbose": verbose, "batch_size": batch_size, "source": "module"}),
        title=title or f"{type(module).__name__} (live module)",
        subject="module",
        findings=[Finding(severity=Severity.info, code="module.live",
                          message="Report made from a live nn.Module; config, normalization and data flow "
                                  "sections need a GENESIS config.", where=type(module).__name__)],
        summary=summary,
        config=None,
        parameters=analyse_parameters(module),
        normalization=None,
        modules=analyse_modules(module) if verbose else None,
    )


@dataclass
class Traces:
    """The traced sections of one report, started as early as the model is known (see `start_traces`)."""

    batch_size: int
    flow: FlowSection | None = None
    flow_findings: list[Finding] = field(default_factory=list)
    flow_key: str | None = None
    memory: MemorySection | None = None
    memory_findings: list[Finding] = field(default_factory=list)
    memory_key: str | None = None
    job: Forked[dict[str, Any]] | None = None  # the traced sections being computed in a child
    plan: limits.TracePlan | None = None
    cached: list[str] = field(default_factory=list)


def start_traces(built: BuiltModel, config: LoadedConfig, options: ReportOptions,
                 busy_threads: int = 0) -> Traces:
    """Look the traced sections up in the analysis cache, and start tracing the others in a forked child
    (reporter.memory.worker) while the caller reads the weights, draws and compiles templates.

    Fake tensors need ``torch._dynamo``, whose import costs about as much as torch's: only the child
    imports it, so this process spends that time on its own work. The bounds are checked only for what
    must be traced (a cached section was within them when stored).

    ``busy_threads`` is how many cores this process keeps busy meanwhile (a checkpoint report: the weight
    statistics and the sha256). A child is forked only when a core is free for it, and it forks again for
    the flow and the fp32 step only when there is a core for each: a child without a core of its own only
    competes with this process, and its copied pages cost memory. Without a child the traces run here on
    a thread: tracing holds the GIL, while the weight statistics (torch kernels) and the sha256 release it.
    Measured on 2 cores with the 1.6 GB checkpoint of bench/checkpoint_bench.py, process-tree Pss_Anon:
    child and two grandchildren 11.4 s, 235 MiB; one child 10.4 s, 178 MiB; traced after the statistics
    in this process 6.6 s, 130 MiB; on a thread here 6.0 s, 131 MiB."""
    traces = Traces(batch_size=resolve_batch_size(options, config))
    batch_size = traces.batch_size
    traces.flow_key = _flow_key(built, batch_size)
    traces.flow = _from_cache("flow", traces.flow_key, FlowSection, options, traces.cached)
    target = choose_report_target(options, config.top.get("device")) if options.memory else None
    if options.memory:
        traces.memory_key = _memory_key(built, config, options, batch_size, target)
        traces.memory = _from_cache("memory", traces.memory_key, MemorySection, options, traces.cached)
        traces.memory_findings = list(traces.memory.findings) if traces.memory is not None else []
    traces.plan = limits.plan_traces(built.module, lambda n: _example_inputs(built, n), batch_size) if (
        traces.flow is None or (options.memory and traces.memory is None)) else limits.TracePlan()
    need_flow = traces.flow is None
    if need_flow and traces.plan.flow is not None:
        traces.flow, traces.flow_findings = _skipped("flow", traces.plan.flow)
        need_flow = False
    need_memory = options.memory and traces.memory is None
    if need_memory and traces.plan.memory is not None:
        traces.memory, traces.memory_findings = _skipped("memory", traces.plan.memory)
        need_memory = False
    if need_flow or need_memory:
        from reporter.memory.worker import Forked, can_fork

        spread, in_child = fan_out(busy_threads), fork_child(busy_threads) and can_fork()
        # The flow trace swaps the module's parameters and hooks its submodules while it runs: on a thread,
        # the module this process reports on must not be the one traced (a meta-device copy: milliseconds).
        traced = built if in_child or not need_flow else BuiltModel(
            module=copy.deepcopy(built.module), spec=built.spec, model_cfg=built.model_cfg)
        traces.job = Forked(lambda: _traced(traced, config, options, batch_size, target, need_flow, need_memory,
                                            spread), fork=in_child, thread=True)
    return traces


def fork_child(busy_threads: int) -> bool:
    """Whether the traces run in a forked child: a core for it beside the busy threads."""
    from reporter.memory import worker

    return worker.usable_cores() >= 1 + busy_threads


def fan_out(busy_threads: int) -> bool:
    """Whether the tracing child may fork again: a core for it and one more, beside the busy threads."""
    from reporter.memory import worker

    return worker.usable_cores() >= 2 + busy_threads


def _traced(built: BuiltModel, config: LoadedConfig, options: ReportOptions, batch_size: int, target: Any,
            need_flow: bool, need_memory: bool, fan_out: bool) -> dict[str, Any]:
    """The traced sections, in the child or on a thread of this process. With ``fan_out``, the flow in a
    child of its own while the memory steps trace here (they fork once more for the fp32 step when there
    is a mixed-precision column); without, one after the other."""
    import torch._dynamo  # noqa: F401 - fake tensors need it: imported once, before the children fork

    from reporter.memory.worker import Forked

    done: dict[str, Any] = {}
    with limits.quiet_torch():
        flow_job = Forked(lambda: _flow(built, batch_size), fork=fan_out) if need_flow else None
        if need_memory:
            done["memory"] = _memory(built, config, options, batch_size, target, parallel=fan_out)
        if flow_job is not None:
            done["flow"] = flow_job.result()
    return done


def _finish_traces(traces: Traces, options: ReportOptions, charts: list[Any]) -> None:
    """Collect the traced sections from their child (drawing the parameter charts meanwhile) and keep them
    in the analysis cache. A child that died (e.g. killed for memory) is a finding, not a failed report."""
    from reporter.memory.worker import WorkerError

    if traces.job is None:
        return
    if options.while_waiting is not None:
        options.while_waiting(charts)
    try:
        done = traces.job.result()
    except WorkerError as exc:
        done = {"flow": (None, [_untraceable("flow", str(exc))])} if traces.flow is None else {}
        if options.memory and traces.memory is None:
            done["memory"] = (None, [_untraceable("memory", str(exc))])
    traces.job = None
    if "flow" in done:
        traces.flow, traces.flow_findings = done["flow"]
        _to_cache(traces.flow_key, traces.flow, options)
    if "memory" in done:
        traces.memory, traces.memory_findings = done["memory"]
        _to_cache(traces.memory_key, traces.memory, options)


def _untraceable(section: str, why: str) -> Finding:
    what = "data flow" if section == "flow" else "training-step memory"
    return Finding(severity=Severity.warning, code=f"{section}.untraceable", where=section,
                   message=f"{what} not traced: {why}")


def assemble(built: BuiltModel, config: LoadedConfig, options: ReportOptions, inputs: list,
             subject: ReportSubject, config_source: str, choice: ModelChoice | None = None,
             findings: list[Finding] | None = None, given_source: ConfigSource = "file",
             traces: Traces | None = None) -> Report:
    """Run the model analyses shared by config and checkpoint reports, all on ``built`` (the chosen model).

    ``choice`` says which GENESIS the model is and what differs from the input (default: the config's);
    ``traces`` are the traced sections when the caller started them early (default: started here).
    """
    spec, model, model_cfg = built.spec, built.module, built.model_cfg
    traces = traces or start_traces(built, config, options)
    choice = choice or ModelChoice(model_cfg=dict(model_cfg), genesis=None)
    summary = analyse_summary(model, spec.name, model_cfg, notes=spec.notes(model_cfg), genesis=choice.genesis)
    norm_info = spec.normalization(model_cfg)
    copies = [normalization_copy("model", model_cfg, with_labels="label_offset" in norm_info.buffers)]
    if _has_data_normalization(config):
        copies.append(normalization_copy("data", config.data))
    normalization = None
    if norm_info.where != "unknown":  # third-party models have no GENESIS normalization buffers
        normalization = analyse_normalization(copies, norm_info.where, norm_info.formula, norm_info.note)
    parameters = analyse_parameters(model)
    _finish_traces(traces, options, list(parameters.charts))
    experiment = config.top.get("experiment_name") or "model"
    return Report(
        meta=build_meta(inputs, {**options.as_meta(), "batch_size": traces.batch_size},
                        cached_sections=traces.cached),
        title=f"{experiment} — {summary.model_class}",
        subject=subject,
        findings=ranked([*(findings or []), *config.findings, *choice.findings, *traces.flow_findings,
                         *traces.memory_findings]),
        summary=summary,
        config=analyse_config(config, config_source, given_source, replaced=choice.replaced,
                              model_values=model_cfg),
        parameters=parameters,
        normalization=normalization,
        flow=traces.flow,
        memory=traces.memory,
        modules=analyse_modules(model) if options.verbose else None,
    )


_SEVERITY_RANK = {Severity.security: 0, Severity.error: 1, Severity.warning: 2, Severity.info: 3}


def ranked(findings: list[Finding]) -> list[Finding]:
    """Most consequential first (security, error, warning, info); the analyses' order within a severity."""
    return sorted(findings, key=lambda f: _SEVERITY_RANK[f.severity])




def resolve_batch_size(options: ReportOptions, config: LoadedConfig) -> int:
    """--batch-size, else the config's own `data.batch_size`, else the seed inspector's 512."""
    if options.batch_size:
        return options.batch_size
    if "data.batch_size" in config.given:
        return int(config.data["batch_size"])
    return DEFAULT_BATCH_SIZE


def _example_inputs(built: BuiltModel, batch_size: int) -> Any:
    import torch

    with torch.device("meta"):
        return built.spec.example_inputs(built.model_cfg, batch_size)


def _skipped(section: str, reason: str) -> tuple[None, list[Finding]]:
    """A traced section left out because the model is beyond a trace bound (reporter/limits.py)."""
    what = "data flow" if section == "flow" else "training-step memory and FLOPs"
    return None, [Finding(severity=Severity.warning, code=f"{section}.skipped", where=section,
                          message=f"{what} not traced: {reason}")]


def _flow(built: BuiltModel, batch_size: int) -> tuple[Any, list[Finding]]:
    """Trace the forward pass; a model whose forward needs real values gets a finding, not a crash."""
    import torch

    from reporter.flow import FlowTraceError, analyse_flow

    try:
        with torch.device("meta"):
            inputs = built.spec.example_inputs(built.model_cfg, batch_size)
        return analyse_flow(built.module, inputs, spec=built.spec, model_cfg=built.model_cfg,
                            batch_size=batch_size), []
    except (FlowTraceError, InputError, RuntimeError, TypeError, ValueError, OverflowError) as exc:
        return None, [Finding(severity=Severity.warning, code="flow.untraceable",
                              message=f"data flow not traced: {exc}", where="flow")]


SectionT = TypeVar("SectionT", bound=ReportModel)


def _from_cache(name: str, key: str | None, model: type[SectionT], options: ReportOptions,
                cached: list[str]) -> SectionT | None:
    """The section stored under ``key``, or None (off, missing, or an entry that does not validate)."""
    from reporter import analysis_cache

    if key is None or not options.cache:
        return None
    payload = analysis_cache.load(key)
    if payload is None:
        return None
    try:
        section = model.model_validate_json(payload)
    except ValueError:  # written by another build or a broken run: ignored and rewritten
        return None
    cached.append(name)
    return section


def _to_cache(key: str | None, section: Any, options: ReportOptions) -> None:
    from reporter import analysis_cache

    if key is not None and section is not None and options.cache:
        analysis_cache.store(key, section.model_dump_json())


def _spec_identity(built: BuiltModel) -> str | None:
    """Built-in architectures only: a --model-class or plug-in's code is not in our code fingerprint."""
    from reporter.models.builtin import BUILTIN_SPECS

    return built.spec.name if any(built.spec is spec for spec in BUILTIN_SPECS) else None


def _flow_key(built: BuiltModel, batch_size: int) -> str | None:
    from reporter import analysis_cache

    name = _spec_identity(built)
    return None if name is None else analysis_cache.make_key(
        "flow", {"spec": name, "model": built.model_cfg, "batch": batch_size})


def _memory_key(built: BuiltModel, config: LoadedConfig, options: ReportOptions, batch_size: int,
                target: Any) -> str | None:
    from reporter import analysis_cache

    name = _spec_identity(built)
    training = {k: config.training.get(k) for k in ("use_amp", "optimizer", "learning_rate", "weight_decay")}
    return None if name is None else analysis_cache.make_key("memory", {
        "spec": name, "model": built.model_cfg, "training": training, "batch": batch_size,
        "target": vars(target.profile), "target_basis": target.basis, "sample_batch": options.sample_batch,
        "amp_dtype": options.amp_dtype})


def _memory(built: BuiltModel, config: LoadedConfig, options: ReportOptions,
            batch_size: int, target: Any, parallel: bool = True) -> tuple[Any, list[Finding]]:
    """Trace a training step for the memory section; its own findings are surfaced with the others."""
    from reporter.analysis.memory_section import analyse_memory
    from reporter.flow import FlowTraceError

    try:
        section = analyse_memory(built.spec, built.model_cfg, config.training, batch_size, target,
                                 options.sample_batch, amp_dtype=options.amp_dtype, parallel=parallel)
    except NoExampleInputs as exc:
        return None, [Finding(severity=Severity.warning, code="memory.untraceable",
                              message=f"training-step memory not traced: {exc.problem}", where="memory")]
    except (FlowTraceError, NotImplementedError, RuntimeError, TypeError) as exc:
        return None, [Finding(severity=Severity.warning, code="memory.untraceable",
                              message=f"training-step memory not traced: {type(exc).__name__}: {exc}",
                              where="memory")]
    return section, list(section.findings)


def choose_report_target(options: ReportOptions, config_device: Any) -> Any:
    """The memory target of one report (reporter.memory.target_choice): --target, else the input's device."""
    from reporter.memory.target_choice import choose_target, default_setting, option_setting

    asked = option_setting(options.target, options.gpu_memory)
    return choose_target(asked, config_device, None if asked else default_setting())


def _has_data_normalization(config: LoadedConfig) -> bool:
    return any(key.startswith("data.") and key.split(".", 1)[1] in
               ("affine_offsets", "affine_scales", "label_offsets", "label_scales", "time_transform")
               for key in config.given)
