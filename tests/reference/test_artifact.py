"""The weight artifact: per-tensor treatment, bit-exact round trips through every compressor, loading."""

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from reference.artifact import (  # noqa: E402
    artifact_compressors,
    dequantize_state,
    pack,
    quantize_model,
    serialize_quantized,
    unpack,
    unpack_quantized,
)
from reference.gptq import collect_hessians, rtn_quantize  # noqa: E402


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(96, 64)
        self.proj = nn.Linear(64, 128, bias=False)
        self.out = nn.Linear(128, 64, bias=True)
        self.norm = nn.LayerNorm(64)
        self.head = nn.Linear(64, 96, bias=False)
        self.head.weight = self.embed.weight  # tied
        self.mix = nn.Parameter(torch.randn(3, 64, dtype=torch.bfloat16))  # a small control tensor in bf16
        self.register_buffer("step", torch.tensor([7], dtype=torch.int64))

    def forward(self, tokens):
        h = self.embed(tokens)
        h = h + self.out(torch.relu(self.proj(h)).square()) * self.mix[0].float()
        return self.head(self.norm(h))


@pytest.fixture(scope="module")
def net_and_quantized():
    torch.manual_seed(0)
    net = TinyNet()
    hessians = collect_hessians(net, [torch.randint(0, 96, (4, 32)) for _ in range(3)])
    return net, quantize_model(net, hessians)


def assert_same_entries(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for name, e in want.items():
        assert got[name].keys() == e.keys(), name
        for field, value in e.items():
            if isinstance(value, torch.Tensor):
                assert value.dtype == got[name][field].dtype and torch.equal(value, got[name][field]), name
            else:
                assert value == got[name][field], name


def test_each_tensor_gets_its_treatment(net_and_quantized):
    net, q = net_and_quantized
    assert q["embed.weight"]["kind"] == "quant" and q["embed.weight"]["bits"] == 8
    assert q["head.weight"] == {"kind": "alias", "of": "embed.weight"}
    assert q["proj.weight"]["bits"] == 6 and q["out.weight"]["bits"] == 6
    # GPTQ where a Hessian exists: codes differ from round-to-nearest
    assert not torch.equal(q["proj.weight"]["q"], rtn_quantize(net.proj.weight.detach(), bits=6)[0])
    assert q["out.bias"]["data"].dtype == torch.float16 and q["norm.weight"]["kind"] == "raw"
    assert q["mix"]["data"].dtype == torch.bfloat16 and q["step"]["data"].dtype == torch.int64
    no_hessians = quantize_model(net)
    assert torch.equal(no_hessians["proj.weight"]["q"], rtn_quantize(net.proj.weight.detach(), bits=6)[0])


@pytest.mark.parametrize("compressor", sorted(artifact_compressors()))
def test_round_trip_is_bit_exact_for_every_compressor(net_and_quantized, compressor):
    _, q = net_and_quantized
    blob = pack(q, compressor=compressor)
    assert_same_entries(unpack_quantized(blob), q)


@pytest.mark.parametrize("layout", ["offset", "zigzag", "int8"])
def test_round_trip_is_bit_exact_for_every_code_layout(net_and_quantized, layout):
    _, q = net_and_quantized
    assert_same_entries(unpack_quantized(pack(q, layout=layout)), q)


def test_unpacked_state_loads_and_reproduces_the_quantized_model(net_and_quantized):
    net, q = net_and_quantized
    blob = pack(q)
    state = unpack(blob)
    fresh = TinyNet()
    fresh.load_state_dict(state)
    assert fresh.head.weight is fresh.embed.weight  # still tied
    expected = dequantize_state(q)
    for name, t in fresh.state_dict().items():
        assert torch.equal(t, expected[name]), name
    tokens = torch.randint(0, 96, (2, 16))
    got, want = fresh(tokens), net(tokens)
    assert (got - want).norm() < 0.05 * want.norm()  # quantized, not broken


def test_artifact_is_far_smaller_than_the_weights(net_and_quantized):
    net, q = net_and_quantized
    fp16_bytes = sum(t.numel() * 2 for t in net.state_dict().values())
    blob = pack(q)
    assert len(blob) < 0.55 * fp16_bytes  # int6/int8 codes of mostly-Gaussian weights, entropy-coded
    assert len(blob) < len(serialize_quantized(q))


def test_bad_blobs_are_rejected(net_and_quantized):
    _, q = net_and_quantized
    with pytest.raises(ValueError, match="bad magic"):
        unpack(b"PK\x03\x04" + bytes(10))
    with pytest.raises(ValueError, match="unknown or unavailable compressor"):
        pack(q, compressor="rar")
    with pytest.raises(ValueError, match="not available here"):
        unpack(b"PGQ1\x03rar" + bytes(4))
