"""Role propagation on small programs: what reaches a call site, and what must not."""
import textwrap

from auditor.api import analyse
from auditor.facts import vocab as V

CODE = textwrap.dedent('''
    import glob
    import numpy as np
    import torch

    def read_shard(path):
        return torch.from_numpy(np.fromfile(path, dtype="<u2", offset=1024).astype(np.int64))

    def load_validation_tokens(pattern):
        return torch.cat([read_shard(p) for p in sorted(glob.glob(pattern))])

    class GPT(torch.nn.Module):
        def __init__(self, vocab):
            super().__init__()
            self.emb = torch.nn.Embedding(vocab, 8)

    def evaluate(model, val_data):
        return float(model(val_data).sum())

    def train_model(args, val_data):
        model = GPT(1024)
        print(evaluate(model, val_data))
        return model

    def train_stream(args):
        return torch.cat([read_shard(p) for p in sorted(glob.glob(args.train_files))])

    def targets_of(window):
        return window[1:]

    def main(args):
        val_tokens = load_validation_tokens("data/fineweb_val_*.bin")
        model = train_model(args, val_tokens)
        stream = train_stream(args)
        y = targets_of(val_tokens[0:1025])
        return model, stream, y
''')


def _roles(name: str) -> frozenset[str]:
    facts = analyse(CODE)
    return facts.roles.of.get(f"main::{name}", frozenset())


def test_a_reader_shared_by_train_and_val_keeps_them_apart():
    assert V.VAL in _roles("val_tokens") and V.TRAIN not in _roles("val_tokens")
    assert V.TRAIN in _roles("stream") and V.VAL not in _roles("stream")


def test_a_model_built_by_a_function_that_was_given_val_data_is_not_val_data():
    assert not _roles("model") & {V.VAL, V.VALTOK}


def test_a_helper_returning_a_shifted_slice_of_its_argument_returns_targets():
    assert V.TARGET in _roles("y") and V.VAL in _roles("y")


def test_audit_source_audits_code_held_in_memory():
    from auditor.api import audit_source
    from auditor.model import Verdict

    result = audit_source(CODE, "snippet.py")
    assert result.verdict is Verdict.CLEAN and result.source.script == "snippet.py"
    broken = audit_source("def f(:\n", "broken.py")
    assert broken.verdict is Verdict.UNANALYZABLE and "syntax error" in broken.error
