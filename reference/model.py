"""The GPT: RMSNorm, RoPE, GQA attention, BigramHash input embedding, relu^2 MLP, tied embeddings, logit softcap.

Shape follows the challenge's baseline (resid mix with the embedding, U-Net skips between the two halves, q gain,
QK-norm); the BigramHash embedding (PR #1019 lineage) adds a hashed (previous, current) input-token pair, so it
reads only inputs: position t sees tokens <= t.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reference.fused_mlp import FusedMLP


class RMSNorm(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, (x.size(-1),))


class CastedLinear(nn.Linear):
    """fp32 master weights, cast to the activation dtype at matmul time (bf16 under autocast)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.to(x.dtype))


def rotary_tables(seq_len: int, head_dim: int, base: float) -> tuple[Tensor, Tensor]:
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    return freqs.cos()[None, None], freqs.sin()[None, None]  # (1, 1, T, D/2)


def activation_dtype(x: Tensor) -> torch.dtype:
    """Autocast's dtype (bf16) where autocast is on, else x's: the residual stream's dtype."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)


class Attention(nn.Module):
    """Causal self-attention with `num_kv_heads` shared K/V heads (GQA); num_kv_heads == num_heads is full MHA."""

    def __init__(self, dim: int, num_heads: int, num_kv_heads: int, rope_base: float, qk_gain_init: float,
                 max_seq_len: int):
        super().__init__()
        if dim % num_heads or num_heads % num_kv_heads or (dim // num_heads) % 2:
            raise ValueError(f"bad attention shape: dim={dim} heads={num_heads} kv_heads={num_kv_heads}")
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, dim // num_heads
        # RoPE tables built once, here (not under inference_mode, so TTT's backward can use them too): computed
        # inside the compiled graph, inductor recomputed pow/cos/sin for every element of q and k.
        cos, sin = rotary_tables(max_seq_len, self.head_dim, rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.c_q = CastedLinear(dim, dim, bias=False)
        self.c_k = CastedLinear(dim, num_kv_heads * self.head_dim, bias=False)
        self.c_v = CastedLinear(dim, num_kv_heads * self.head_dim, bias=False)
        self.proj = CastedLinear(dim, dim, bias=False)
        self.q_gain = nn.Parameter(torch.full((num_heads,), qk_gain_init))

    def forward(self, x: Tensor) -> Tensor:
        bsz, seq_len, dim = x.shape
        q = self.c_q(x).view(bsz, seq_len, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = self.c_k(x).view(bsz, seq_len, self.num_kv_heads, self.head_dim).transpose(1, 2)  # (B, KV, T, D)
        v = self.c_v(x).view(bsz, seq_len, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = F.rms_norm(q, (self.head_dim,)), F.rms_norm(k, (self.head_dim,))
        if seq_len > self.rope_cos.size(-2):
            raise ValueError(f"sequence of {seq_len} tokens is longer than the model's max_seq_len "
                             f"{self.rope_cos.size(-2)}")
        cos, sin = self.rope_cos[:, :, :seq_len], self.rope_sin[:, :, :seq_len]
        q = apply_rotary(q, cos, sin) * self.q_gain.to(q.dtype)[None, :, None, None]
        k = apply_rotary(k, cos, sin)
        gqa = self.num_kv_heads != self.num_heads
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)  # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(bsz, seq_len, dim))


class BigramHash(nn.Module):
    """Embedding of hash(previous input token, current input token) into `rows` buckets, projected to the model.

    Row `rows - 1` is reserved for position 0 (no previous token). Keys are built from the inputs only.
    """

    def __init__(self, rows: int, dim: int, model_dim: int):
        super().__init__()
        self.rows = rows
        self.embed = nn.Embedding(rows, dim)
        self.proj = CastedLinear(dim, model_dim, bias=False)
        self.scale = nn.Parameter(torch.full((1,), 0.05))
        nn.init.zeros_(self.embed.weight)
        nn.init.zeros_(self.proj.weight)

    def bucket(self, input_ids: Tensor) -> Tensor:
        cur, prev = input_ids[..., 1:].to(torch.int64), input_ids[..., :-1].to(torch.int64)
        mixed = torch.bitwise_xor(36313 * cur, 27191 * prev) % (self.rows - 1)
        first = torch.full_like(input_ids[..., :1], self.rows - 1, dtype=torch.int64)
        return torch.cat((first, mixed), dim=-1)  # (B, T)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.proj(self.embed(self.bucket(input_ids))) * self.scale


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, num_kv_heads: int, hidden: int, act: str, rope_base: float,
                 qk_gain_init: float, max_seq_len: int):
        super().__init__()
        self.attn_norm, self.mlp_norm = RMSNorm(), RMSNorm()
        self.attn = Attention(dim, num_heads, num_kv_heads, rope_base, qk_gain_init, max_seq_len)
        self.mlp = FusedMLP(dim, hidden, act=act)
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(dim), torch.zeros(dim))))

    def forward(self, x: Tensor, x0: Tensor) -> Tensor:
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + self.attn_scale.to(x.dtype) * self.attn(self.attn_norm(x))
        return x + self.mlp_scale.to(x.dtype) * self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, vocab_size: int, num_layers: int, model_dim: int, num_heads: int, num_kv_heads: int,
                 mlp_mult: float, mlp_act: str = "relu2", bigram_vocab_size: int = 0, bigram_dim: int = 128,
                 logit_softcap: float = 30.0, rope_base: float = 10000.0, qk_gain_init: float = 1.5,
                 tied_embed_init_std: float = 0.005, max_seq_len: int = 4096, residual_fp32: bool = False):
        super().__init__()
        self.logit_softcap = logit_softcap
        self.residual_fp32 = residual_fp32
        self.tok_emb = nn.Embedding(vocab_size, model_dim)
        self.bigram = BigramHash(bigram_vocab_size, bigram_dim, model_dim) if bigram_vocab_size > 0 else None
        hidden = int(mlp_mult * model_dim)
        self.blocks = nn.ModuleList(
            Block(model_dim, num_heads, num_kv_heads, hidden, mlp_act, rope_base, qk_gain_init, max_seq_len)
            for _ in range(num_layers)
        )
        self.num_encoder = num_layers // 2
        self.skip_weights = nn.Parameter(torch.ones(min(self.num_encoder, num_layers - self.num_encoder), model_dim))
        self.final_norm = RMSNorm()
        nn.init.normal_(self.tok_emb.weight, std=tied_embed_init_std)
        for block in self.blocks:  # residual branches start at zero
            nn.init.zeros_(block.attn.proj.weight)
            nn.init.zeros_(block.mlp.down.weight)

    def hidden(self, input_ids: Tensor) -> Tensor:
        x = self.tok_emb(input_ids)
        if self.bigram is not None:
            x = x + self.bigram(input_ids)
        # The stream in autocast's dtype (bf16 on GPU), as the baseline's: the fp32 embedding would otherwise keep
        # every residual add, norm and their gradients in fp32, twice the bytes of the memory-bound kernels that
        # dominate the step. RESIDUAL_FP32=1 keeps it in fp32 (matmuls still run in bf16 under autocast).
        x = x0 = F.rms_norm(x, (x.size(-1),))
        if not self.residual_fp32:
            x = x0 = x.to(activation_dtype(x))
        skips = []
        for i, block in enumerate(self.blocks):
            if i >= self.num_encoder and skips:
                x = x + self.skip_weights[i - self.num_encoder].to(x.dtype) * skips.pop()
            x = block(x, x0)
            if i < self.num_encoder:
                skips.append(x)
        return self.final_norm(x)

    def logits(self, input_ids: Tensor) -> Tensor:
        proj = F.linear(self.hidden(input_ids), self.tok_emb.weight)  # tied output embedding
        return self.logit_softcap * torch.tanh(proj.float() / self.logit_softcap)  # (B, T, V) fp32

    def forward(self, input_ids: Tensor, target_ids: Tensor | None = None) -> Tensor:
        """Mean next-token cross-entropy when targets are given, else the logits."""
        logits = self.logits(input_ids)
        if target_ids is None:
            return logits
        return F.cross_entropy(logits.flatten(0, 1), target_ids.flatten())
