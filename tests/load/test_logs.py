"""The train-log parser on one synthetic log per era (rules.md §22 line formats, our own numbers) and bad input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from auditor.load.logs import LogRun, Score, parse_log, parse_log_file, parse_logs

# A dump of the script's own code, as the baseline logs it before a line of '=': nothing in it is a run.
CODE_DUMP = '''"""
Example output, kept in the docstring: seed:99
step:5/20 train_loss:1.0000 train_time:5ms step_avg:1.00ms
Total submission size int8+zlib: 1 bytes
"""
import os

def main():
    log0(f"final_int8_zlib_roundtrip_exact val_loss:{q_val_loss:.8f} val_bpb:{q_val_bpb:.8f}")
====================================================================================================
'''

MARCH = (
    CODE_DUMP
    + """Running Python 3.12.3 (main, Nov  6 2025, 13:44:16) [GCC 13.3.0]
Running PyTorch 2.9.1+cu128
| NVIDIA-SMI 570.124.06             Driver Version: 570.124.06     CUDA Version: 12.8     |
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:18:00.0 Off |                    0 |
|   1  NVIDIA H100 80GB HBM3          On  |   00000000:2A:00.0 Off |                    0 |
====================================================================================================
val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path=./data/tokenizers/fineweb_1024_bpe.model
train_loader:dataset:fineweb10B_sp1024 train_shards:25
val_loader:shards pattern=./data/datasets/fineweb10B_sp1024/fineweb_val_*.bin tokens:63779840
model_params:17059912
world_size:8 grad_accum_steps:1
train_batch_tokens:524288 train_seq_len:1024 iterations:20000 warmup_steps:20 max_wallclock_seconds:600.000
seed:1337
warmup_step:1/20
warmup_step:20/20
step:0/20000 val_loss:6.9357 val_bpb:4.1077 train_time:0ms step_avg:0.02ms
step:1/20000 train_loss:6.9370 train_time:31ms step_avg:31.12ms
step:13000/20000 val_loss:2.0611 val_bpb:1.2207 train_time:566000ms step_avg:43.54ms
step:13700/20000 val_loss:2.0599 val_bpb:1.2200 train_time:600021ms step_avg:43.80ms
stopping_early: wallclock_cap train_time:600021ms step:13700/20000
peak memory allocated: 10184 MiB reserved: 10588 MiB
Serialized model: 67224983 bytes
Code size: 47001 bytes
Total submission size: 67271984 bytes
Serialized model int8+zlib: 15800000 bytes (payload:15700000 raw_torch:15750000 payload_ratio:3.90x)
Total submission size int8+zlib: 15847001 bytes
final_int8_zlib_roundtrip val_loss:2.0733 val_bpb:1.2279 eval_time:1399ms
final_int8_zlib_roundtrip_exact val_loss:2.07331234 val_bpb:1.22791234
"""
)

SCORE_FIRST = """logs/1b2c3d4e.txt
train_loader:dataset:fineweb10B_sp1024 train_shards:80
val_loader:shards pattern=./data/datasets/fineweb10B_sp1024/fineweb_val_*.bin tokens:62021632
seed:2024
step:1/20000 train_loss:6.9312 train_time:120ms step_avg:120.10ms
step:7000/20000 val_loss:1.9400 val_bpb:1.1490 train_time:600050ms step_avg:85.72ms
stopping_early: wallclock_cap train_time:600050ms step:7000/20000
Code size: 66000 bytes
Serialized model int6+lzma: 15900000 bytes
Total submission size int6+lzma: 15966000 bytes
final_int6_roundtrip val_loss:1.9301 val_bpb:1.1431 eval_time:7100ms
final_int6_roundtrip_exact val_loss:1.93012345 val_bpb:1.14312345
final_int6_sliding_window val_loss:1.8940 val_bpb:1.1218 stride:64 eval_time:74100ms
final_int6_sliding_window_exact val_loss:1.89401234 val_bpb:1.12181234
final_int8_zlib_roundtrip_exact val_loss:1.89401234 val_bpb:1.12181234
ttt_sliding:start chunks=1893 chunk_tokens=32768 total_windows=969088 stride=64 ttt_lr=0.002 ttt_epochs=3 \
freeze_blocks=0
  ttt_chunk [1/1893] bpb=1.150000 time=0.3s
  ttt_chunk [1891/1893] bpb=1.121400 time=409.1s
ttt_sliding:done val_loss=1.889700 val_bpb=1.119200 elapsed=409.4s
legal_ttt val_loss:1.8897 val_bpb:1.1192 eval_time:410100ms
legal_ttt_exact val_loss:1.88970011 val_bpb:1.11920022
"""

SP8192 = """Hyperparameters:
  gptq_reserve_seconds: 12.0
  max_wallclock_seconds: 600.0
  seed: 7
  vocab_size: 8192
train_shards: 128
val_tokens: 40540160
model_params:35944536
gptq:reserving 12s, effective=588000ms
0/20000 val_loss: 9.0079 val_bpb: 3.4872
1/20000 train_loss: 9.0104 train_time: 0.0m tok/s: 4001979
4000/20000 train_loss: 2.7000 train_time: 8.2m tok/s: 7000000
4551/20000 val_loss: 2.8120 val_bpb: 1.0887
stopping_early: wallclock_cap train_time: 588100ms step: 4551/20000
Code size: 16000 bytes
GPTQ:collected 67 Hessians in 11.2s
Serialized model quantized+brotli: 15975000 bytes
Total submission size quantized+brotli: 15991000 bytes
quantized val_loss:2.8400 val_bpb:1.1000 eval_time:4400ms
quantized_sliding_window val_loss:2.79990000 val_bpb:1.08400000 eval_time:120900ms
ngram_tilt:precompute n_tok=40540161 hints=9560451 (23.58%) elapsed=32.1s base_beta=2.0 within_beta=0.0 agree_bonus=0.1
quantized_ttt val_loss:2.79180555 val_bpb:1.08079555 eval_time:366500ms
"""

CASEOPS = """W0426 19:59:28.614000 762659 torch/distributed/run.py:803] *****************************************
Hyperparameters:
  artifact_dir:\x20
  gptq_reserve_seconds: 0.5
  ngram_hint_precompute_outside: True
  seed: 42
  val_bytes_files: /data/datasets/fineweb_val_bytes_*.bin
  world_size: 8
train_shards: 80
val_tokens: 47851520
model_params:35945671
gptq:reserving 0s, effective=599500ms
1/20000 train_loss: 9.0087 train_time: 0.0m tok/s: 17921784
2500/20000 train_loss: 2.5404 train_time: 4.3m tok/s: 7705526
4901/20000 val_loss: 2.3541 val_bpb: 1.0758
stopping_early: wallclock_cap train_time: 599612ms step: 4901/20000
diagnostic pre-quantization post-ema val_loss:2.32848665 val_bpb:1.06395844 eval_time:6718ms
Serialized model: 135417533 bytes
Code size (uncompressed): 158001 bytes
Code size (compressed): 32011 bytes
GPTQ:collecting Hessians from calibration data...
GPTQ:collected 67 Hessians in 4.6s
Serialize: per-group compression done in 98.2s
Serialized model quantized+pergroup: 15860000 bytes
Total submission size quantized+pergroup: 15892011 bytes
Deserialize: decompression done in 20.1s
diagnostic quantized val_loss:2.34700000 val_bpb:1.07250000 eval_time:49000ms
ttt_lora:warming up compile (random tokens, no val data)
ttt_lora:compile warmup done (137.2s)
beginning TTT eval timer
ttt_phased: total_docs:50000 prefix_docs:2500 suffix_docs:47500 num_phases:3 boundaries:[833, 1666, 2500]
ttpp: phase:1/3 pd:1296 gd:833 t:209.3s
ttp: b574/782 bl:2.3648 bb:1.0612 rl:2.2803 rb:1.0406 dl:1025-1029 gd:1
ngram_tilt:hints total=47851520 gated=628130 token_gate=628130 within_gate=0 word_gate=0 agree2plus=0
quantized_ttt_phased val_loss:2.31900000 val_bpb:1.05970000 eval_time:508600ms
total_eval_time:508.6s
"""


def only(text: str, name: str = "train_seed.log") -> LogRun:
    runs = parse_log(text, name)
    assert len(runs) == 1, runs
    return runs[0]


# ---------------------------------------------------------------------------------------------- eras


def test_march_baseline() -> None:
    run = only(MARCH, "train.log")
    assert run.file == "train.log" and run.index == 0
    assert run.seed == 1337  # not the 99 of the logged source code
    assert (run.steps_done, run.steps_total, run.stopped_early) == (13700, 20000, True)
    assert run.train_time_ms == 600021 and run.step_avg_ms == pytest.approx(43.80)
    assert (run.code_bytes, run.code_bytes_compressed) == (47001, None)
    assert (run.total_bytes, run.total_label, run.model_bytes) == (15847001, "int8+zlib", 15800000)
    assert (run.val_tokens, run.train_shards, run.world_size) == (63779840, 25, 8)
    assert run.gpus == ("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3")
    assert run.hardware[:2] == (
        "Running Python 3.12.3 (main, Nov  6 2025, 13:44:16) [GCC 13.3.0]",
        "Running PyTorch 2.9.1+cu128",
    )
    assert run.hparams["train_seq_len"] == "1024" and run.hparams["tokenizer_kind"] == "sentencepiece"
    assert "warmup_step" not in run.hparams  # progress, not a setting
    periodic = run.periodic
    assert [s.step for s in periodic] == [0, 13000, 13700] and periodic[-1].val_bpb == 1.2200
    final = run.final
    assert final == Score(
        "final_int8_zlib_roundtrip",
        2.07331234,
        1.22791234,
        None,
        True,
        None,
        "final_int8_zlib_roundtrip_exact val_loss:2.07331234 val_bpb:1.22791234",
    )
    rounded = run.scores[-2]
    assert (rounded.stage, rounded.exact, rounded.eval_time_ms) == ("final_int8_zlib_roundtrip", False, 1399)
    assert run.eval_times == () and run.calibration == () and run.calibration_s is None


def test_score_first_era() -> None:
    run = only(SCORE_FIRST)
    assert (run.seed, run.steps_done, run.train_time_ms, run.step_avg_ms) == (2024, 7000, 600050, 85.72)
    assert (run.total_bytes, run.total_label, run.val_tokens, run.train_shards) == (15966000, "int6+lzma", 62021632, 80)
    assert run.stages == (
        "periodic",
        "final_int6_roundtrip",
        "final_int6_sliding_window",
        "final_int8_zlib_roundtrip",
        "ttt_sliding:done",
        "legal_ttt",
    )
    sliding = run.best("final_int6_sliding_window")
    assert sliding is not None and (sliding.val_bpb, sliding.exact) == (1.12181234, True)
    assert run.scores[3].eval_time_ms == 74100  # `stride:64` sits between the name and the eval time
    done = run.best("ttt_sliding:done")
    assert done is not None and (done.val_loss, done.val_bpb, done.eval_time_ms) == (1.8897, 1.1192, 409400)
    final = run.final
    assert final is not None and (final.stage, final.val_loss, final.val_bpb) == ("legal_ttt", 1.88970011, 1.11920022)
    legacy = run.best("final_int8_zlib_roundtrip")  # re-printed with the sliding-window numbers
    assert legacy is not None and legacy.val_bpb == sliding.val_bpb
    assert run.best("no_such_stage") is None
    without_ttt = only(SCORE_FIRST.split("ttt_sliding:start")[0])
    final = without_ttt.final  # the legacy re-print gives way to the stage it repeats
    assert final is not None and (final.stage, final.val_bpb) == ("final_int6_sliding_window", 1.12181234)


def test_sp8192_era() -> None:
    run = only(SP8192)
    assert run.seed == 7  # from the hyper-parameter dump
    assert (run.steps_done, run.steps_total, run.train_time_ms) == (4551, 20000, 588100)
    assert run.step_avg_ms == pytest.approx(588100 / 4551)  # derived: these step lines print tok/s only
    assert (run.gptq_reserve_s, run.train_budget_ms) == (12, 588000)
    assert (run.train_shards, run.val_tokens) == (128, 40540160)
    assert (run.total_bytes, run.total_label, run.model_bytes, run.code_bytes) == (
        15991000,
        "quantized+brotli",
        15975000,
        16000,
    )
    assert [(t.stage, t.seconds) for t in run.calibration] == [("gptq:collected", 11.2)]
    assert run.calibration_s == 11.2
    assert [(t.stage, t.seconds) for t in run.eval_times] == [("ngram_tilt:precompute", 32.1)]
    assert [(s.step, s.val_loss, s.val_bpb) for s in run.periodic] == [(0, 9.0079, 3.4872), (4551, 2.8120, 1.0887)]
    final = run.final
    assert final is not None and (final.stage, final.val_bpb, final.eval_time_ms) == (
        "quantized_ttt",
        1.08079555,
        366500,
    )
    assert run.hparams["vocab_size"] == "8192"


def test_caseops_phased_era() -> None:
    run = only(CASEOPS)
    assert (run.seed, run.world_size) == (42, 8)
    assert (run.steps_done, run.train_time_ms, run.stopped_early) == (4901, 599612, True)
    assert run.step_avg_ms == pytest.approx(599612 / 4901)
    assert (run.gptq_reserve_s, run.train_budget_ms) == (0, 599500)  # the line's rounded value wins over the dump
    assert (run.code_bytes, run.code_bytes_compressed) == (158001, 32011)
    assert (run.total_bytes, run.total_label, run.model_bytes) == (15892011, "quantized+pergroup", 15860000)
    assert (run.train_shards, run.val_tokens) == (80, 47851520)
    assert run.calibration_s == 4.6
    assert [(t.stage, t.seconds) for t in run.eval_times] == [
        ("serialize:per-group_compression", 98.2),
        ("deserialize:decompression", 20.1),
        ("ttt_lora:compile_warmup", 137.2),
    ]
    assert run.total_eval_time_s == 508.6
    assert run.hparams["ngram_hint_precompute_outside"] == "True"
    assert run.hparams["val_bytes_files"] == "/data/datasets/fineweb_val_bytes_*.bin"
    assert run.hparams["artifact_dir"] == ""
    assert run.stages == (
        "periodic",
        "diagnostic_pre-quantization_post-ema",
        "diagnostic_quantized",
        "quantized_ttt_phased",
    )
    final = run.final
    assert final is not None and (final.stage, final.val_loss, final.val_bpb, final.eval_time_ms) == (
        "quantized_ttt_phased",
        2.319,
        1.0597,
        508600,
    )


def test_launcher_time_stamps_before_each_line() -> None:
    stamped = "".join(f"1776142360.{i:03d} {line}\n" for i, line in enumerate(CASEOPS.splitlines()))
    run = only(stamped)
    assert (run.seed, run.steps_done, run.total_bytes, run.total_eval_time_s) == (42, 4901, 15892011, 508.6)
    assert run.hparams["gptq_reserve_seconds"] == "0.5"
    assert run.final is not None and run.final.stage == "quantized_ttt_phased"


def test_other_spellings() -> None:
    text = """# Seed 5 - a note the launcher wrote
step  5120/5120 | loss 1.9868 | lr 0.000950 | tok/s 4,645,267 | elapsed 9m39.58s
Serialized model: 106313663 bytes  Code: 49961 bytes
[QUANT] Total artifact size:   15,921,334 bytes  (<16,000,000)
final_sliding_window_eval_exact stride:64 val_loss:2.02215627 val_bpb:1.19763674
ppm_mixer val_bpb:1.0321 eval_time:81234ms order=5
early_stop train_time:590000ms step:5120/5120
stopping_early: wallclock_cap train_time:598000ms step:5200/20000 (reserving 10s for GPTQ)
gptq:calibrated 68 layers in 3.5s
gptq:quantized in 2.0s
# 8xH100 SXM, torch 2.8
"""
    run = only(text)
    assert run.seed == 5
    assert (run.steps_done, run.steps_total, run.train_time_ms, run.gptq_reserve_s) == (5200, 20000, 598000, 10)
    assert (run.code_bytes, run.total_bytes, run.total_label) == (49961, 15921334, None)
    assert run.best("final_sliding_window_eval") == Score(
        "final_sliding_window_eval",
        2.02215627,
        1.19763674,
        None,
        True,
        None,
        "final_sliding_window_eval_exact stride:64 val_loss:2.02215627 val_bpb:1.19763674",
    )
    final = run.final
    assert final is not None and (final.stage, final.val_loss, final.val_bpb) == ("ppm_mixer", None, 1.0321)
    assert [t.stage for t in run.calibration] == ["gptq:calibrated"]
    assert [t.stage for t in run.eval_times] == ["gptq:quantized"]  # touches no data
    assert run.hardware == ("# 8xH100 SXM, torch 2.8",)


def test_elapsed_minutes_on_step_lines() -> None:
    run = only("step  100/5120 | loss 3.1 | lr 0.001 | tok/s 4,600,000 | elapsed 1m2.5s\n")
    assert (run.steps_done, run.train_time_ms, run.step_avg_ms) == (100, 62500, 625)
    assert not run.stopped_early and run.final is None


# ---------------------------------------------------------------------------------------------- files and runs


def test_a_crash_at_the_end_keeps_the_run() -> None:
    text = SCORE_FIRST.split("Code size")[0] + "Traceback (most recent call last):\nRuntimeError: CUDA error\n"
    run = only(text)
    assert (run.seed, run.steps_done, run.stopped_early, run.total_bytes) == (2024, 7000, True, None)
    assert run.final is None and len(run.periodic) == 1


def test_several_runs_in_one_file() -> None:
    second = SCORE_FIRST.replace("seed:2024", "seed:7").replace("600050", "600070").replace("15966000", "15960000")
    runs = parse_log(SCORE_FIRST + second, "all_seeds.log")
    assert [(r.index, r.seed, r.train_time_ms, r.total_bytes) for r in runs] == [
        (0, 2024, 600050, 15966000),
        (1, 7, 600070, 15960000),
    ]


def test_a_log_file_appended_to_its_stdout_is_one_run() -> None:
    # stdout had an extra line that only another rank printed; the log file copy starts with the code
    stdout = SCORE_FIRST.replace("legal_ttt val_loss", "ttt:done val_loss=1.8897 val_bpb=1.1192\nlegal_ttt val_loss", 1)
    logfile = CODE_DUMP + SCORE_FIRST.replace("seed:2024\n", "")
    runs = parse_log(stdout + logfile, "train_seed2024.log")
    assert len(runs) == 1
    assert runs[0].seed == 2024 and "ttt:done" in runs[0].stages


def test_a_restarted_run_is_two_runs() -> None:
    aborted = "seed:3\nstep:1/20000 train_loss:6.9 train_time:100ms step_avg:100.00ms\n"
    runs = parse_log(aborted + SCORE_FIRST.replace("seed:2024", "seed:3"), "train_seed3.log")
    assert [(r.seed, r.steps_done, r.final is not None) for r in runs] == [(3, 1, False), (3, 7000, True)]


def test_code_logged_without_its_closing_separator() -> None:
    code = "import os\nimport sys\n\ndef main():\n    pass\n\nif __name__ == '__main__':\n    main()\n"
    run = only(code + SCORE_FIRST)
    assert (run.seed, run.total_bytes) == (2024, 15966000)


def test_parse_logs_and_files(tmp_path: Path) -> None:
    runs = parse_logs({"b/train_seed7.log": SP8192, "a/log.txt": MARCH, "notes.txt": "just some notes\n"})
    assert [(r.file, r.seed) for r in runs] == [("a/log.txt", 1337), ("b/train_seed7.log", 7)]
    path = tmp_path / "train_seed42.log"
    path.write_text(CASEOPS)
    (run,) = parse_log_file(path)
    assert run.file == str(path) and run.seed == 42
    assert parse_log_file(path, "train_seed42.log")[0].file == "train_seed42.log"


def test_recognised_by_content_alone() -> None:
    assert only("seed:11\n").seed == 11
    assert only("Total submission size int6+zstd: 15000000 bytes\n").total_bytes == 15000000
    assert only("stopping_early: wallclock_cap\n").stopped_early
    assert only("legal_ttt val_loss:1.9 val_bpb:1.1 eval_time:1000ms\n").final is not None
    assert only("12/100 train_loss: 3.0 train_time: 0.1m tok/s: 1000\n").steps_done == 12


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n   \n",
        "hello world\nnothing to see\n",
        bytes(range(256)).decode("latin-1") * 50,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe".decode("utf-8", "replace") * 100,
        "import torch\n\ndef train(seed: int = 1337):\n    log0(f'seed:{seed}')\n",
        "train_shards: 80\nval_tokens: 47851520\n",  # fingerprints alone are not a run
        "val_bpb:enabled tokenizer_kind=sentencepiece\nval_loss:nan val_bpb:nan\n",
    ],
)
def test_no_run_in_garbage(text: str) -> None:
    assert parse_log(text, "x.log") == ()


def test_values_that_do_not_parse_are_skipped() -> None:
    text = """seed:abc
step:x/20000 train_loss:6.9
stopping_early: wallclock_cap train_time:soonms step:?/20000
Total submission size int8+zlib: many bytes
Code size: ??? bytes
final_int8_zlib_roundtrip val_loss:abc val_bpb:1.25 eval_time:quickms
gptq:reserving ages, effective=never
total_eval_time:long
"""
    run = only(text)
    assert run.seed is None and run.steps_done is None and run.train_time_ms is None
    assert run.total_bytes is None and run.code_bytes is None and run.total_eval_time_s is None
    assert run.stopped_early
    final = run.final
    assert final is not None and (final.val_loss, final.val_bpb, final.eval_time_ms) == (None, 1.25, None)


def test_long_lines_stay_fast() -> None:
    lines = [
        "Total submission size " + " " * 60_000 + "x",
        "Hyperparameters:",
        "  key: " + " " * 60_000 + "x",
        "step:1/2 " + "a" * 60_000,
        "final " + "stride:64 " * 6_000 + "val_loss:1.0 val_bpb:1.0",
    ]
    started = time.perf_counter()
    runs = parse_log("\n".join(lines * 5) + "\n", "long.log")
    assert time.perf_counter() - started < 5
    assert runs and runs[0].hparams["key"] == "x"


def test_the_log_parser_imports_without_libcst():
    """GPU machines run the reference benchmarks, which parse their logs, without the auditor's dependencies."""
    import subprocess
    import sys

    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'libcst':\n"
        "            raise ImportError('libcst is not installed here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from auditor.load.logs import parse_log\n"
        "print(parse_log('step:10/20 train_loss:2.5000 train_time:1000ms step_avg:100.00ms\\n', 'x.log'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
