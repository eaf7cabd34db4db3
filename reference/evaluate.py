"""Validation: bits per byte over the whole val split, plain, sliding-window, and with legal score-first TTT.

Bits per byte = sum of token NLLs / ln 2 / bytes of the scored tokens. Bytes come from the tokenizer's pieces
(the challenge's baseline LUT: `▁` stripped and counted as one space unless the previous token is a boundary,
byte-fallback tokens count 1, control/unknown tokens 0). Every target of the split is scored exactly once:
`windows` gives each window the range of targets it scores, so a sliding window never counts a tail twice.

Score-first TTT (rules.md §5, PR #549 shape): the targets are cut into chunks; each chunk is first scored under
`torch.inference_mode()` and added to the totals, then (except the last chunk) the model trains on that chunk's
tokens, which are all already scored.
"""

import math
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


def build_byte_luts(sp: spm.SentencePieceProcessor, vocab_size: int, device: torch.device) -> tuple[Tensor, ...]:
    """(bytes per token without its leading space, token starts with `▁`, token is a boundary), each (V,)."""
    size = max(int(sp.vocab_size()), vocab_size)
    base_bytes = np.zeros(size, dtype=np.int16)
    leading_space = np.zeros(size, dtype=np.bool_)
    boundary = np.ones(size, dtype=np.bool_)
    for token in range(int(sp.vocab_size())):
        if sp.is_control(token) or sp.is_unknown(token) or sp.is_unused(token):
            continue
        boundary[token] = False
        if sp.is_byte(token):
            base_bytes[token] = 1
            continue
        piece = sp.id_to_piece(token)
        if piece.startswith("\u2581"):
            leading_space[token], piece = True, piece[1:]
        base_bytes[token] = len(piece.encode("utf-8"))
    return tuple(torch.tensor(a, device=device) for a in (base_bytes, leading_space, boundary))


def token_bytes(luts: tuple[Tensor, ...], prev: Tensor, target: Tensor) -> Tensor:
    base_bytes, leading_space, boundary = luts
    return base_bytes[target].double() + (leading_space[target] & ~boundary[prev]).double()


def windows(total: int, seq_len: int, stride: int) -> list[tuple[int, int, int]]:
    """(window start, first scored target, end of scored targets) covering targets 0..total-1 exactly once.

    Target j is token j+1 of the split; a window starting at ws reads inputs ws..ws+seq_len-1. The first window
    scores all of its targets, later ones the `stride` newest, so every target but the first seq_len sees at
    least seq_len - stride tokens of context. stride >= seq_len gives the plain non-overlapping evaluation.
    """
    stride = min(stride, seq_len) if stride > 0 else seq_len
    out, end = [(0, 0, min(seq_len, total))], min(seq_len, total)
    while end < total:
        nxt = min(end + stride, total)
        out.append((max(0, nxt - seq_len), end, nxt))
        end = nxt
    return out


class Totals:
    """NLL sum (nats) and byte count on the device, scored-target count on the host; summed over ranks."""

    def __init__(self, device: torch.device):
        self.sums = torch.zeros(2, dtype=torch.float64, device=device)  # (NLL, bytes)
        self.count = 0

    def add(self, nll: Tensor, n_bytes: Tensor) -> None:
        self.sums += torch.stack((nll.double().sum(), n_bytes.sum()))
        self.count += nll.numel()

    def local(self) -> tuple[float, float, float]:
        loss_sum, n_bytes = self.sums.tolist()
        return loss_sum, float(self.count), n_bytes

    def reduced(self) -> tuple[float, float]:
        """(val_loss in nats per token, val_bpb) over every rank."""
        t = torch.cat((self.sums, torch.tensor([float(self.count)], dtype=torch.float64, device=self.sums.device)))
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(t)
        loss_sum, n_bytes, count = t.tolist()
        return loss_sum / count, loss_sum / math.log(2.0) / n_bytes


def column_runs(batch: list[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    """(first row, end row, first column, end column) of the scored targets, rows with equal columns merged.

    Scores are reduced over these slices only, so a context position of a window never enters a sum (not even
    times zero); windows after the first all score the same last `stride` columns, so a batch is one or two runs.
    """
    runs: list[list[int]] = []
    for row, (ws, start, end) in enumerate(batch):
        if runs and runs[-1][2:] == [start - ws, end - ws]:
            runs[-1][1] = row + 1
        else:
            runs.append([row, row + 1, start - ws, end - ws])
    return [(r0, r1, c0, c1) for r0, r1, c0, c1 in runs]


def score_windows(logits_fn, val_tokens: Tensor, spans: list[tuple[int, int, int]], seq_len: int, batch_seqs: int,
                  luts: tuple[Tensor, ...], totals: Totals, device: torch.device, autocast: bool) -> None:
    """Add the NLL and bytes of the targets each span scores; call under inference_mode."""
    for i in range(0, len(spans), batch_seqs):
        batch = spans[i : i + batch_seqs]
        # padded to a fixed (batch_seqs, seq_len) shape so a compiled model sees one shape
        x = torch.zeros(batch_seqs, seq_len, dtype=torch.int64)  # (B, T)
        y = torch.zeros(batch_seqs, seq_len, dtype=torch.int64)  # (B, T)
        for row, (ws, _, _) in enumerate(batch):
            n = min(seq_len, val_tokens.numel() - 1 - ws)
            x[row, :n] = val_tokens[ws : ws + n]
            y[row, :n] = val_tokens[ws + 1 : ws + n + 1]
        x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = logits_fn(x)
        nll = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none").view(y.shape)
        for r0, r1, c0, c1 in column_runs(batch):
            totals.add(nll[r0:r1, c0:c1], token_bytes(luts, x[r0:r1, c0:c1], y[r0:r1, c0:c1]))


def rank_share(items: list, rank: int, world_size: int) -> list:
    n = len(items)
    return items[n * rank // world_size : n * (rank + 1) // world_size]


def evaluate(logits_fn, val_tokens: Tensor, seq_len: int, stride: int, batch_seqs: int, luts: tuple[Tensor, ...],
             rank: int, world_size: int, device: torch.device, autocast: bool) -> tuple[float, float]:
    """(val_loss, val_bpb) over the whole split; stride 0 is the plain non-overlapping evaluation."""
    spans = rank_share(windows(val_tokens.numel() - 1, seq_len, stride), rank, world_size)
    totals = Totals(device)
    with torch.inference_mode():
        score_windows(logits_fn, val_tokens, spans, seq_len, batch_seqs, luts, totals, device, autocast)
    return totals.reduced()


def ttt_params(model: nn.Module, train_blocks: int) -> list[nn.Parameter]:
    """The last `train_blocks` blocks and every scale: what TTT adapts; everything else is frozen."""
    last = {id(p) for block in list(model.blocks)[len(model.blocks) - train_blocks :] for p in block.parameters()}
    return [p for name, p in model.named_parameters() if id(p) in last or "scale" in name]


def evaluate_ttt(model: nn.Module, logits_fn, val_tokens: Tensor, seq_len: int, stride: int, batch_seqs: int,
                 luts: tuple[Tensor, ...], rank: int, world_size: int, device: torch.device, autocast: bool, *,
                 chunk_tokens: int, epochs: int, lr: float, train_blocks: int, log) -> tuple[float, float]:
    """Score-first TTT: score chunk c under inference_mode, then train on chunk c (never on the last chunk)."""
    total = val_tokens.numel() - 1
    spans = windows(total, seq_len, stride)
    num_chunks = (total + chunk_tokens - 1) // chunk_tokens
    by_chunk: list[list[tuple[int, int, int]]] = [[] for _ in range(num_chunks)]
    for span in spans:  # a window belongs to the chunk of its first scored target
        by_chunk[span[1] // chunk_tokens].append(span)
    params = ttt_params(model, train_blocks)
    trainable = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, betas=(0.9, 0.999))
    log(f"ttt_sliding:start chunks={num_chunks} chunk_tokens={chunk_tokens} total_windows={len(spans)} "
        f"stride={stride} ttt_lr={lr} ttt_epochs={epochs} train_blocks={train_blocks}")
    totals, t0 = Totals(device), time.perf_counter()
    for ci in range(num_chunks):
        model.eval()
        with torch.inference_mode():  # phase 1: score this chunk before any update that could see it
            score_windows(logits_fn, val_tokens, rank_share(by_chunk[ci], rank, world_size), seq_len, batch_seqs,
                          luts, totals, device, autocast)
        if ci < num_chunks - 1 and epochs > 0:  # phase 2: train on the scored chunk; the last one never
            lr_now = lr * 0.5 * (1.0 + math.cos(math.pi * ci / max(num_chunks - 1, 1)))
            for group in optimizer.param_groups:
                group["lr"] = lr_now
            ttt_train_chunk(model, params, optimizer, val_tokens, ci * chunk_tokens,
                            min((ci + 1) * chunk_tokens, total), seq_len, batch_seqs, epochs, rank, world_size,
                            device, autocast)
        if ci % 100 == 0 or ci == num_chunks - 1:
            loss_sum, _, n_bytes = totals.local()
            bpb = loss_sum / math.log(2.0) / max(n_bytes, 1.0)
            log(f"  ttt_chunk [{ci + 1}/{num_chunks}] bpb={bpb:.6f} time={time.perf_counter() - t0:.1f}s")
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    val_loss, val_bpb = totals.reduced()
    log(f"ttt_sliding:done val_loss={val_loss:.6f} val_bpb={val_bpb:.6f} elapsed={time.perf_counter() - t0:.1f}s")
    return val_loss, val_bpb


def ttt_train_chunk(model: nn.Module, params: list[nn.Parameter], optimizer: torch.optim.Optimizer,
                    val_tokens: Tensor, start: int, end: int, seq_len: int, batch_seqs: int, epochs: int, rank: int,
                    world_size: int, device: torch.device, autocast: bool) -> None:
    """Epochs over the sequences of targets start..end-1 (all scored); each step is one global batch."""
    starts = list(range(start, end - seq_len + 1, seq_len))
    step_seqs = batch_seqs * world_size
    model.train()
    for _ in range(epochs):
        for i in range(0, len(starts), step_seqs):
            step = starts[i : i + step_seqs]
            mine = rank_share(step, rank, world_size)  # even split: a short chunk still uses every rank
            optimizer.zero_grad(set_to_none=False)
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            if mine:
                x = torch.stack([val_tokens[s : s + seq_len] for s in mine]).to(device, torch.int64)
                y = torch.stack([val_tokens[s + 1 : s + seq_len + 1] for s in mine]).to(device, torch.int64)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    logits = model(x)
                nll = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="sum")
                (nll / (len(step) * seq_len)).backward()  # mean over the global batch once summed over ranks
            if dist.is_available() and dist.is_initialized():
                for p in params:
                    dist.all_reduce(p.grad)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
