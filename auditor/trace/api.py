"""Library entry: trace one path (script or records folder) and return the merged AuditResult."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from auditor.api import Options, audit_path
from auditor.load.source import load
from auditor.model import AuditResult
from auditor.trace.checks import check_ledger, observed
from auditor.trace.merge import TraceOutcome, merge
from auditor.trace.probe import probe, probe_findings
from auditor.trace.runner import RunConfig, RunResult, run

# Findings from the order checks explain a probe difference (training before scoring moves earlier scores).
_ORDER_RULES = frozenset({"prequant-ttt", "scored-region-slot", "val-in-artifact", "rescore"})


def trace_script(
    script: Path, data, config: RunConfig, probes: bool = True, documents: bool = True
) -> TraceOutcome:
    result = run(script, data, config)
    shims = ", ".join(result.ledger.shims) if result.ledger else ""
    if not result.ok or result.ledger is None:
        return TraceOutcome(False, result.reason, result.tail, wall=result.wall, shims=shims, device=config.device)
    findings = check_ledger(result.ledger)
    probe_results = []
    if probes:
        tokens = _val_stream(data)
        probe_results = probe(script, data, config, result.ledger, tokens, _bos(data), documents)
        explained = any(f.rule in _ORDER_RULES for f in findings)
        findings += probe_findings(probe_results, explained)
    return TraceOutcome(True, "", result.tail, findings, probe_results, observed(result.ledger), result.wall, shims,
                        config.device)


def trace_path(path: str, data, config: RunConfig, probes: bool = True, options: Options | None = None) -> AuditResult:
    """Static audit + traced run of the same submission, joined."""
    static = audit_path(path, options)
    if static.source is not None:
        script = Path(static.source.script)
        config = replace(config, launch_env={**load(path).launch_env, **config.launch_env})
    elif Path(path).is_file():
        script = Path(path)
    else:
        return static  # no script to run: the static result already says why
    return merge(static, trace_script(script, data, config, probes))


def _val_stream(data):
    import numpy as np

    from auditor.data.shards import read_shard

    return np.concatenate([read_shard(f) for f in data.val_files])


def _bos(data) -> int:
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(data.tokenizer_path)).bos_id()


__all__ = ["RunConfig", "RunResult", "trace_path", "trace_script"]
