"""Muon for the block matrices (batched by shape, sharded over ranks), Adam for embeddings and scalars.

Muon: Keller Jordan, https://kellerjordan.github.io/posts/muon/ (as in modded-nanogpt and the challenge's
baseline). Matrices of one shape are orthogonalised together in one batched Newton-Schulz call, which on one GPU
replaces dozens of small launches per step; with several ranks each rank does its share of the stacks and one
all-reduce shares the updates.
"""

import torch
import torch.distributed as dist
from torch import Tensor, nn


def newton_schulz5(G: Tensor, steps: int, eps: float = 1e-7) -> Tensor:
    """Approximately orthogonalise each matrix of the batch G (N, rows, cols) with a quintic iteration."""
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.bfloat16()
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
    transposed = G.size(-2) > G.size(-1)
    if transposed:
        X = X.mT
    for _ in range(steps):
        A = X @ X.mT
        X = a * X + (b * A + c * A @ A) @ X
    return X.mT if transposed else X


class Muon(torch.optim.Optimizer):
    """SGD-momentum (Nesterov) whose update is orthogonalised; decoupled weight decay."""

    def __init__(self, params, lr: float, momentum: float, backend_steps: int, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, backend_steps=backend_steps,
                                      weight_decay=weight_decay))
        self.orthogonalise = newton_schulz5

    @torch.no_grad()
    def step(self, closure=None):
        distributed = dist.is_available() and dist.is_initialized()
        world_size, rank = (dist.get_world_size(), dist.get_rank()) if distributed else (1, 0)
        for group in self.param_groups:
            stacks: dict[tuple[int, ...], list[nn.Parameter]] = {}
            for p in group["params"]:
                stacks.setdefault(tuple(p.shape), []).append(p)
            for shape, params in stacks.items():
                updates = self._stack_updates(group, shape, params[rank::world_size])  # this rank's share
                if distributed:
                    shared = torch.zeros((len(params), *shape), device=params[0].device, dtype=torch.bfloat16)
                    if updates is not None:
                        shared[rank::world_size] = updates
                    dist.all_reduce(shared)
                    updates = shared
                # foreach: one launch per stack instead of one per matrix
                if group["weight_decay"] > 0:
                    torch._foreach_mul_(params, 1.0 - group["lr"] * group["weight_decay"])
                torch._foreach_add_(params, list(updates.to(params[0].dtype).unbind(0)), alpha=-group["lr"])

    def _stack_updates(self, group: dict, shape: tuple[int, ...], params: list[nn.Parameter]) -> Tensor | None:
        """Nesterov momentum, then the orthogonalised, shape-scaled updates of `params` as one bf16 stack."""
        if not params:
            return None
        for p in params:
            if "momentum_buffer" not in self.state[p]:
                self.state[p]["momentum_buffer"] = torch.zeros_like(p.grad)
        grads = [p.grad for p in params]
        bufs = [self.state[p]["momentum_buffer"] for p in params]
        torch._foreach_mul_(bufs, group["momentum"])
        torch._foreach_add_(bufs, grads)
        nesterov = torch._foreach_add(grads, bufs, alpha=group["momentum"])
        ortho = self.orthogonalise(torch.stack(nesterov), group["backend_steps"])
        return ortho * max(1.0, shape[0] / shape[1]) ** 0.5


def split_params(model: nn.Module) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """(matrices for Muon, embedding tables, vectors and scalars): every parameter in exactly one list."""
    matrices, embeddings, scalars = [], [], []
    for name, p in model.named_parameters():
        if name in ("tok_emb.weight", "bigram.embed.weight"):
            embeddings.append(p)
        elif p.ndim == 2 and name != "skip_weights" and not name.endswith("resid_mix"):
            matrices.append(p)
        else:
            scalars.append(p)
    return matrices, embeddings, scalars


def build_optimizers(model: nn.Module, args, fused: bool) -> tuple[list[torch.optim.Optimizer], Muon]:
    matrices, embeddings, scalars = split_params(model)
    adam = dict(betas=(args.beta1, args.beta2), eps=args.adam_eps, weight_decay=args.adam_wd, fused=fused)
    optimizers: list[torch.optim.Optimizer] = [
        torch.optim.AdamW([{"params": embeddings, "lr": args.tied_embed_lr}], **adam),
        Muon(matrices, lr=args.matrix_lr, momentum=args.muon_momentum, backend_steps=args.muon_backend_steps,
             weight_decay=args.muon_wd),
        torch.optim.AdamW([{"params": scalars, "lr": args.scalar_lr}], **adam),
    ]
    for opt in optimizers:
        for group in opt.param_groups:
            group["base_lr"] = group["lr"]
    return optimizers, optimizers[1]
