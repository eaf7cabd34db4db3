"""Entry point: train under the wall-clock cap, calibrate GPTQ on train shards, pack the artifact, reload it, evaluate.

Run: `torchrun --standalone --nproc_per_node=8 train_gpt.py` (or `python train_gpt.py` for one process; CPU works
at toy sizes). `PRESET=baseline|pr1250` picks the configuration, any hyper-parameter env var overrides it.

Timing: the clock starts after the compile warm-up (whose updates are rolled back) and stops at
MAX_WALLCLOCK_SECONDS - GPTQ_RESERVE_SECONDS; GPTQ Hessians are then collected on train shards inside the reserve,
so training plus every data-touching step fits the cap (rules.md §12). Periodic validation pauses the clock.
Evaluation runs on a fresh model loaded from the compressed artifact bytes only.
"""

import copy
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

# reading order of the generated file: settings, data, model, optimizer, evaluation, quantization, artifact
from reference.config import PRESET, Hyperparameters
from reference.data import DistributedTokenLoader, load_validation_tokens, shard_files
from reference.model import GPT
from reference.optim import Muon, build_optimizers
from reference.evaluate import build_byte_luts, evaluate, evaluate_ttt
from reference.gptq import collect_hessians
from reference.artifact import pack, quantize_model, unpack

MAX_SUBMISSION_BYTES = 16_000_000


def build_model(args: Hyperparameters, device: torch.device) -> GPT:
    model = GPT(
        vocab_size=args.vocab_size, num_layers=args.num_layers, model_dim=args.model_dim, num_heads=args.num_heads,
        num_kv_heads=args.num_kv_heads, mlp_mult=args.mlp_mult, mlp_act=args.mlp_act,
        bigram_vocab_size=args.bigram_vocab_size, bigram_dim=args.bigram_dim, logit_softcap=args.logit_softcap,
        rope_base=args.rope_base, qk_gain_init=args.qk_gain_init, tied_embed_init_std=args.tied_embed_init_std,
        max_seq_len=max(args.train_seq_len, args.eval_seq_len, args.gptq_calib_seq_len),
        residual_fp32=args.residual_fp32,
    )
    for block in model.blocks:
        block.mlp.use_triton = args.fused_mlp
    return model.to(device)


def lr_scale(progress: float, warmup_frac: float, warmdown_frac: float) -> float:
    """Linear warm-up over the first `warmup_frac` of the run, linear decay to 0 over the last `warmdown_frac`."""
    up = min(1.0, progress / warmup_frac) if warmup_frac > 0 else 1.0
    down = min(1.0, max(0.0, 1.0 - progress) / warmdown_frac) if warmdown_frac > 0 else 1.0
    return up * down


def micro_batching(args: Hyperparameters, world_size: int) -> tuple[int, int]:
    """(tokens per rank per micro-step, micro-steps per optimizer step) for the fixed global batch."""
    micro = min(args.micro_batch_tokens, args.train_batch_tokens // world_size)
    if micro % args.train_seq_len or args.train_batch_tokens % (micro * world_size):
        raise ValueError(f"TRAIN_BATCH_TOKENS={args.train_batch_tokens} does not split into {world_size} ranks x "
                         f"micro-batches of {micro} tokens (multiples of TRAIN_SEQ_LEN={args.train_seq_len})")
    return micro, args.train_batch_tokens // (micro * world_size)


class Averager:
    """EMA of the weights every step, or SWA (uniform mean) every `swa_every` steps of the warm-down."""

    def __init__(self, model: nn.Module, kind: str, ema_decay: float, swa_every: int):
        if kind not in ("ema", "swa", "none"):
            raise ValueError(f"AVERAGING={kind!r} is not ema, swa or none")
        self.kind, self.decay, self.every, self.count = kind, ema_decay, swa_every, 0
        self.params = [p for p in model.parameters()]
        self.avg = [p.detach().float().clone() for p in self.params] if kind == "ema" else None

    @torch.no_grad()
    def update(self, step: int, scale: float) -> None:
        if self.kind == "ema":
            torch._foreach_lerp_(self.avg, [p.detach().float() for p in self.params], 1.0 - self.decay)
        elif self.kind == "swa" and scale < 1.0 and step % self.every == 0:
            self.count += 1
            if self.avg is None:
                self.avg = [p.detach().float().clone() for p in self.params]
            else:
                torch._foreach_lerp_(self.avg, [p.detach().float() for p in self.params], 1.0 / self.count)

    @torch.no_grad()
    def apply(self) -> bool:
        if self.avg is None:
            return False
        for p, a in zip(self.params, self.avg):
            p.copy_(a)
        return True


@dataclass
class Session:
    """Where this process runs and how it logs: what every phase below needs besides the model."""

    args: Hyperparameters
    rank: int
    world_size: int
    local_rank: int
    distributed: bool
    device: torch.device
    logfile: str | None  # rank 0 only

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def master(self) -> bool:
        return self.rank == 0

    def log(self, msg: str, console: bool = True) -> None:
        if self.logfile is None:
            return
        if console:
            print(msg, flush=True)
        with open(self.logfile, "a", encoding="utf-8") as f:
            print(msg, file=f)

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def evaluate(self, logits_fn, val_tokens: torch.Tensor, seq_len: int, stride: int, luts) -> tuple[float, float]:
        return evaluate(logits_fn, val_tokens, seq_len, stride, self.args.eval_batch_seqs, luts, self.rank,
                        self.world_size, self.device, self.cuda)


def start_session(args: Hyperparameters) -> Session:
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if distributed:
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)
    logfile = None
    if rank == 0:
        os.makedirs("logs", exist_ok=True)
        logfile = f"logs/{args.run_id}.txt"
    return Session(args, rank, world_size, local_rank, distributed, device, logfile)


def log_environment(run: Session, code: str) -> None:
    """The code and versions in the log file (as the baseline does), not on the console."""
    run.log(code, console=False)
    run.log("=" * 100, console=False)
    run.log(f"Running Python {sys.version}", console=False)
    run.log(f"Running PyTorch {torch.__version__}", console=False)
    if run.cuda:
        run.log(subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=False).stdout, console=False)


def compile_for_training(run: Session, base_model: GPT, muon: Muon) -> tuple[nn.Module, nn.Module]:
    """(compiled model, the model the step calls: DDP-wrapped when distributed); Muon's Newton-Schulz compiled."""
    args = run.args
    compiled = base_model
    if run.cuda and args.compile:
        compiled = torch.compile(base_model, dynamic=False, fullgraph=True, mode=args.compile_mode or None)
        muon.orthogonalise = torch.compile(muon.orthogonalise, dynamic=False, fullgraph=True)
    model = (DDP(compiled, device_ids=[run.local_rank] if run.cuda else None, broadcast_buffers=False)
             if run.distributed else compiled)
    return compiled, model


def zero_grad(optimizers: list[torch.optim.Optimizer]) -> None:
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)


def forward_backward(run: Session, model: nn.Module, loader: DistributedTokenLoader, micro_tokens: int,
                     accum_steps: int) -> torch.Tensor:
    """Gradients of the mean loss over one global batch (accumulated over micro-batches); that loss, on device."""
    total = torch.zeros((), device=run.device)
    for micro in range(accum_steps):
        if run.distributed:
            model.require_backward_grad_sync = micro == accum_steps - 1
        x, y = loader.next_batch(micro_tokens, run.args.train_seq_len)
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.cuda):
            loss = model(x, y)
        total += loss.detach()
        (loss / accum_steps).backward()
    return total / accum_steps


def optimizer_step(args: Hyperparameters, base_model: GPT, optimizers: list[torch.optim.Optimizer], muon: Muon,
                   step: int, scale: float) -> None:
    """Muon momentum warm-up, the LR schedule's `scale`, optional clipping, one step of every optimizer."""
    frac = min(step / args.muon_momentum_warmup_steps, 1.0) if args.muon_momentum_warmup_steps > 0 else 1.0
    for group in muon.param_groups:
        group["momentum"] = (1 - frac) * args.muon_momentum_warmup_start + frac * args.muon_momentum
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * scale
    if args.grad_clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(base_model.parameters(), args.grad_clip_norm)
    for opt in optimizers:
        opt.step()
    zero_grad(optimizers)


def train(run: Session, base_model: GPT, val_tokens: torch.Tensor, luts) -> tuple[nn.Module, float, int]:
    """Warm up, train under the wall clock, apply the weight average: (compiled model, train time in ms, steps)."""
    args, device = run.args, run.device
    optimizers, muon = build_optimizers(base_model, args, fused=run.cuda)
    compiled, model = compile_for_training(run, base_model, muon)
    micro_tokens, accum_steps = micro_batching(args, run.world_size)
    run.log(f"preset:{PRESET} model_params:{sum(p.numel() for p in base_model.parameters())}")
    run.log(f"world_size:{run.world_size} grad_accum_steps:{accum_steps} micro_batch_tokens:{micro_tokens}")
    run.log(f"attention_mode:{'gqa' if args.num_kv_heads < args.num_heads else 'mha'} num_heads:{args.num_heads} "
            f"num_kv_heads:{args.num_kv_heads} mlp:{args.mlp_act}x{args.mlp_mult} "
            f"bigram:{args.bigram_vocab_size}x{args.bigram_dim}")
    run.log(f"train_batch_tokens:{args.train_batch_tokens} train_seq_len:{args.train_seq_len} "
            f"iterations:{args.iterations} warmup_steps:{args.warmup_steps} "
            f"max_wallclock_seconds:{args.max_wallclock_seconds:.3f}")
    run.log(f"seed:{args.seed}")

    def train_step(loader: DistributedTokenLoader) -> torch.Tensor:
        return forward_backward(run, model, loader, micro_tokens, accum_steps)

    # Compile warm-up: prime the compiled paths, then restore the initial weights and optimizer state.
    if args.warmup_steps > 0:
        initial = copy.deepcopy(base_model.state_dict())
        initial_opt = [copy.deepcopy(opt.state_dict()) for opt in optimizers]
        loader = DistributedTokenLoader(args.train_files, run.rank, run.world_size, device)
        for warmup_step in range(args.warmup_steps):
            train_step(loader)
            for opt in optimizers:
                opt.step()
            zero_grad(optimizers)
            run.log(f"warmup_step:{warmup_step + 1}/{args.warmup_steps}")
        base_model.load_state_dict(initial)
        for opt, state in zip(optimizers, initial_opt):
            opt.load_state_dict(state)

    reserve = args.gptq_reserve_seconds if args.gptq_enabled else 0.0
    budget_ms = 1000.0 * (args.max_wallclock_seconds - reserve) if args.max_wallclock_seconds > 0 else None
    if args.gptq_enabled and budget_ms is not None:
        run.log(f"gptq:reserving {reserve:.0f}s, effective={budget_ms:.0f}ms")
    averager = Averager(base_model, args.averaging, args.ema_decay, args.swa_every)
    loader = DistributedTokenLoader(args.train_files, run.rank, run.world_size, device)
    train_ms, step, stop_after = 0.0, 0, None
    run.sync()
    t0 = time.perf_counter()
    while True:
        if step == args.iterations or (stop_after is not None and step >= stop_after):
            run.sync()
            train_ms += 1000.0 * (time.perf_counter() - t0)
            if stop_after is not None and step < args.iterations:
                run.log(f"stopping_early: wallclock_cap train_time:{train_ms:.0f}ms step:{step}/{args.iterations}")
            break
        if args.val_loss_every > 0 and step % args.val_loss_every == 0:  # the clock pauses
            run.sync()
            train_ms += 1000.0 * (time.perf_counter() - t0)
            validate(run, compiled, val_tokens, luts, step, train_ms)
            base_model.train()
            run.sync()
            t0 = time.perf_counter()
        elapsed_ms = train_ms + 1000.0 * (time.perf_counter() - t0)
        progress = max(step / args.iterations, elapsed_ms / budget_ms if budget_ms else 0.0)
        scale = lr_scale(progress, args.lr_warmup_frac, args.warmdown_frac)
        train_loss = train_step(loader)
        optimizer_step(args, base_model, optimizers, muon, step, scale)
        step += 1
        averager.update(step, scale)
        approx_ms = train_ms + 1000.0 * (time.perf_counter() - t0)
        if args.train_log_every > 0 and (step <= 10 or step % args.train_log_every == 0 or stop_after is not None):
            if run.distributed:  # the loss over the global batch, comparable across world sizes
                dist.all_reduce(train_loss, op=dist.ReduceOp.AVG)
            run.log(f"step:{step}/{args.iterations} train_loss:{train_loss.item():.4f} "
                    f"train_time:{approx_ms:.0f}ms step_avg:{approx_ms / step:.2f}ms")
        reached = budget_ms is not None and approx_ms >= budget_ms
        if run.distributed and budget_ms is not None:  # every rank stops at the same step
            flag = torch.tensor(int(reached), device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            reached = bool(flag.item())
        if stop_after is None and reached:
            stop_after = step
    if run.cuda:
        run.log(f"peak memory allocated: {torch.cuda.max_memory_allocated() // 2**20} MiB "
                f"reserved: {torch.cuda.max_memory_reserved() // 2**20} MiB")
    if averager.apply():
        run.log(f"averaging:applied {args.averaging} weights")
    return compiled, train_ms, step


def validate(run: Session, model, val_tokens: torch.Tensor, luts, step: int, train_ms: float) -> None:
    """The full val split, logged in the baseline's periodic format (pre-quantization)."""
    val_loss, val_bpb = run.evaluate(model, val_tokens, run.args.train_seq_len, 0, luts)
    run.log(f"step:{step}/{run.args.iterations} val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} "
            f"train_time:{train_ms:.0f}ms step_avg:{train_ms / max(step, 1):.2f}ms")


@torch.no_grad()
def sample_sequences(model: GPT, n_seqs: int, seq_len: int, bos: int, temperature: float, seed: int,
                     device: torch.device) -> torch.Tensor:
    """(n_seqs, seq_len) tokens the model samples from BOS, one token at a time (no data read)."""
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same draws whatever the device
    tokens = torch.full((n_seqs, 1), bos, dtype=torch.int64, device=device)
    for _ in range(seq_len - 1):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(tokens)[:, -1].float()  # (n_seqs, V)
        cdf = torch.softmax(logits / temperature, dim=-1).cumsum(dim=-1)
        u = torch.rand(n_seqs, 1, generator=generator).to(device)
        nxt = (cdf < u).sum(dim=-1, keepdim=True).clamp_max(logits.size(-1) - 1)  # inverse-CDF sampling
        tokens = torch.cat((tokens, nxt), dim=1)
    return tokens


def calibration_batches(run: Session, base_model: GPT, bos: int) -> list[torch.Tensor]:
    """This rank's share of the GPTQ calibration sequences: train shards (never val), or self-generated."""
    args = run.args
    per_rank = max(1, args.gptq_calib_seqs // run.world_size)
    if args.gptq_calibration == "self":
        seqs = sample_sequences(base_model, per_rank, args.gptq_calib_seq_len, bos, args.gptq_calib_temperature,
                                args.seed + run.rank, run.device)
        return list(seqs.split(8))
    if args.gptq_calibration != "train":
        raise ValueError(f"GPTQ_CALIBRATION={args.gptq_calibration!r} is not train or self")
    calib = DistributedTokenLoader(args.train_files, run.rank, run.world_size, run.device)
    return [calib.next_batch(args.train_seq_len, args.train_seq_len)[0] for _ in range(per_rank)]


def calibrate(run: Session, base_model: GPT, bos: int) -> tuple[dict[str, torch.Tensor] | None, float]:
    """GPTQ Hessians inside the reserved seconds: (Hessians summed over ranks, or None without GPTQ; seconds)."""
    if not run.args.gptq_enabled:
        return None, 0.0
    run.sync()
    t_cal = time.perf_counter()
    hessians = collect_hessians(base_model, calibration_batches(run, base_model, bos))
    if run.distributed:
        for h in hessians.values():
            dist.all_reduce(h)
    run.sync()
    cal_s = time.perf_counter() - t_cal
    run.log(f"gptq:collected {len(hessians)} Hessians in {cal_s:.1f}s ({run.args.gptq_calibration} sequences)")
    return hessians, cal_s


def write_artifact(run: Session, base_model: GPT, hessians: dict[str, torch.Tensor] | None, code: str) -> str:
    """Quantize and compress on rank 0 (data-free: the Hessians are all GPTQ needs); the artifact's path."""
    args = run.args
    label = f"int{args.quant_bits}+{args.compressor}"
    path = f"final_model.int{args.quant_bits}.ptz"
    if run.master:
        t_pack = time.perf_counter()
        blob = pack(quantize_model(base_model, hessians, bits=args.quant_bits), compressor=args.compressor)
        run.log(f"{'gptq' if hessians else 'rtn'}:quantized+packed in {time.perf_counter() - t_pack:.1f}s")
        with open(path, "wb") as f:
            f.write(blob)
        code_bytes = len(code.encode("utf-8"))
        run.log(f"Serialized model {label}: {len(blob)} bytes")
        run.log(f"Code size: {code_bytes} bytes")
        run.log(f"Total submission size {label}: {len(blob) + code_bytes} bytes")
        if len(blob) + code_bytes > MAX_SUBMISSION_BYTES:
            run.log(f"WARNING: submission is over {MAX_SUBMISSION_BYTES} bytes")
    if run.distributed:
        dist.barrier()
    return path


def evaluate_artifact(run: Session, path: str, val_tokens: torch.Tensor, luts) -> None:
    """A fresh model from the artifact bytes only: full split, sliding window, then score-first TTT."""
    args = run.args
    with open(path, "rb") as f:
        state = unpack(f.read())
    eval_model = build_model(args, run.device)
    eval_model.load_state_dict(state, strict=True)
    eval_model.eval()
    logits_fn = torch.compile(eval_model, dynamic=False) if run.cuda and args.compile else eval_model
    seq_len = args.eval_seq_len or args.train_seq_len
    stage = f"final_int{args.quant_bits}"
    run.sync()
    t_eval = time.perf_counter()
    val_loss, val_bpb = run.evaluate(logits_fn, val_tokens, seq_len, 0, luts)
    run.sync()
    run.log(f"{stage}_roundtrip val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} "
            f"eval_time:{1000.0 * (time.perf_counter() - t_eval):.0f}ms")
    run.log(f"{stage}_roundtrip_exact val_loss:{val_loss:.8f} val_bpb:{val_bpb:.8f}")
    if 0 < args.eval_stride < seq_len:
        t_slide = time.perf_counter()
        val_loss, val_bpb = run.evaluate(logits_fn, val_tokens, seq_len, args.eval_stride, luts)
        run.sync()
        run.log(f"{stage}_sliding_window val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} stride:{args.eval_stride} "
                f"eval_time:{1000.0 * (time.perf_counter() - t_slide):.0f}ms")
        run.log(f"{stage}_sliding_window_exact val_loss:{val_loss:.8f} val_bpb:{val_bpb:.8f}")
    if args.ttt_enabled:
        t_ttt = time.perf_counter()
        val_loss, val_bpb = evaluate_ttt(
            eval_model, logits_fn, val_tokens, seq_len, args.eval_stride, args.eval_batch_seqs, luts, run.rank,
            run.world_size, run.device, run.cuda, chunk_tokens=args.ttt_chunk_tokens, epochs=args.ttt_epochs,
            lr=args.ttt_lr, train_blocks=args.ttt_train_blocks, log=run.log,
        )
        run.sync()
        run.log(f"legal_ttt val_loss:{val_loss:.4f} val_bpb:{val_bpb:.4f} "
                f"eval_time:{1000.0 * (time.perf_counter() - t_ttt):.0f}ms")
        run.log(f"legal_ttt_exact val_loss:{val_loss:.8f} val_bpb:{val_bpb:.8f}")
    run.log(f"total_eval_time:{time.perf_counter() - t_eval:.1f}s")


def main() -> None:
    code = Path(__file__).read_text(encoding="utf-8")
    args = Hyperparameters()
    run = start_session(args)
    log_environment(run, code)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer_path)
    if int(sp.vocab_size()) != args.vocab_size:
        raise ValueError(f"VOCAB_SIZE={args.vocab_size} but the tokenizer has {int(sp.vocab_size())} pieces")
    val_tokens = load_validation_tokens(args.val_files, max(args.eval_seq_len, args.train_seq_len))
    luts = build_byte_luts(sp, args.vocab_size, run.device)
    run.log(f"val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path={args.tokenizer_path}")
    train_shards = len(shard_files(args.train_files))
    run.log(f"train_loader:dataset:{Path(args.data_path).resolve().name} train_shards:{train_shards}")
    run.log(f"val_loader:shards pattern={args.val_files} tokens:{val_tokens.numel() - 1}")

    base_model = build_model(args, run.device)
    compiled, train_ms, steps = train(run, base_model, val_tokens, luts)
    base_model.eval()
    hessians, cal_s = calibrate(run, base_model, sp.bos_id())  # before any post-training val read
    if hessians is not None and args.max_wallclock_seconds > 0:
        run.log(f"gptq:train+calibration {train_ms / 1000.0 + cal_s:.1f}s of {args.max_wallclock_seconds:.0f}s")
    path = write_artifact(run, base_model, hessians, code)
    validate(run, compiled, val_tokens, luts, steps, train_ms)  # the in-memory model, for the quantization gap
    evaluate_artifact(run, path, val_tokens, luts)
    if run.distributed:
        dist.barrier()  # a rank that tears gloo down while another still talks to it aborts the other (SIGABRT)
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
