"""A toy language model trained in seconds on CPU: GPTQ, artifact and kernel tests share it."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reference.fused_mlp import FusedMLP

TOY_VOCAB, TOY_DIM, TOY_HIDDEN = 64, 64, 192


class ToyLM(nn.Module):
    """Next token from the last two tokens: two embeddings -> residual FusedMLP -> norm -> tied head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(TOY_VOCAB, TOY_DIM)
        self.embed_prev = nn.Embedding(TOY_VOCAB, TOY_DIM)
        self.mlp = FusedMLP(TOY_DIM, TOY_HIDDEN, act="leaky_relu2")
        self.norm = nn.LayerNorm(TOY_DIM)
        self.head = nn.Linear(TOY_DIM, TOY_VOCAB, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, tokens: Tensor) -> Tensor:  # (B, T) -> logits (B, T, V)
        prev = F.pad(tokens[:, :-1], (1, 0))
        h = self.embed(tokens) + self.embed_prev(prev)
        h = h + self.mlp(self.norm(h))
        return self.head(self.norm(h))


def toy_sequences(n: int, length: int, *, seed: int) -> Tensor:
    """Tokens from a fixed sparse second-order Markov chain (the chain is the same for every seed)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(TOY_VOCAB, TOY_VOCAB, TOY_VOCAB, generator=g) * 3.0  # peaked next-token distributions
    probs = logits.softmax(-1)
    g.manual_seed(seed + 1)
    seq = torch.randint(0, TOY_VOCAB, (n, 2), generator=g)
    for _ in range(length - 2):
        nxt = torch.multinomial(probs[seq[:, -2], seq[:, -1]], 1, generator=g)
        seq = torch.cat([seq, nxt], dim=1)
    return seq


def toy_loss(model: nn.Module, tokens: Tensor) -> float:
    with torch.no_grad():
        logits = model(tokens[:, :-1])
        return F.cross_entropy(logits.reshape(-1, TOY_VOCAB), tokens[:, 1:].reshape(-1)).item()


def train_toy_lm(steps: int = 300) -> tuple[ToyLM, Tensor, Tensor]:
    """(model, train tokens, held-out tokens); deterministic."""
    torch.manual_seed(0)
    train, held_out = toy_sequences(1024, 65, seed=1), toy_sequences(128, 65, seed=2)
    model = ToyLM()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(3)
    for _ in range(steps):
        batch = train[torch.randint(0, len(train), (32,), generator=g)]
        loss = F.cross_entropy(model(batch[:, :-1]).reshape(-1, TOY_VOCAB), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, train, held_out
