"""The taint vocabulary: which names, strings and calls are sources, sinks, propagators and sanitizers.

Kept as data in one place (semgrep's idea without its engine) so that a new loader or optimizer name is a one-line
change with a fixture, not a change to the dataflow.
"""

from __future__ import annotations

import re

# Roles a value can carry.
VAL, TRAIN, TARGET, INPUT, HASH, SCORE = "VAL", "TRAIN", "TARGET", "INPUT", "HASH_KEY", "SCORE"
VOCAB_ROWS = "VOCAB_ROWS"  # a table with one row over the whole vocabulary per context
VOCAB_DIM = re.compile(r"^(V|vocab|vocab_size|n_vocab|num_tokens|VOCAB|VOCAB_SIZE)$|vocab_size$")
TGT_DER = "TARGET_DERIVED"
TABLE_ID = "TABLE#"
TABLE = "TABLE"  # an array/dict created empty and filled at run time (a count table, a cache)
VALTOK = "VAL_TOKENS"  # the val token values themselves (not statistics computed from them)
PROVENANCE = frozenset({VAL, TRAIN})
VAL_SOURCE = frozenset({VAL, VALTOK})
CTX, SCORED = "CONTEXT_SLICE", "SCORED_SLICE"  # which part of a sliding window a value was cut from
NLL = "NLL"  # a per-token loss computed in this code (cross_entropy, nll_loss, log_softmax)
LOSS_FUNCS = frozenset({"cross_entropy", "nll_loss", "log_softmax"})
AT_TARGET = "AT_TARGET"  # a quantity read off at the realised token (p[y], gather(-1, y))
NORMALIZER_NAME = re.compile(r"^(z|Z|log_z|logz|log_Z|norm|normalizer|partition)$")
FILE_DATA = "FILE_DATA"  # read from a file at run time (np.fromfile, Path.read_bytes, f.read, np.load)
FILE_READS = frozenset({"read_bytes", "fromfile", "read", "memmap", "load"})
CARRIED = PROVENANCE | {
    CTX,
    SCORED,
    NLL,
    AT_TARGET,
    FILE_DATA,
}  # roles that survive opaque calls (a loss over the scored slice is "scored")

VAL_STRING = re.compile(r"fineweb_val|_val_\*|val_\*\.bin|validation", re.I)
TRAIN_STRING = re.compile(r"fineweb_train|_train_\*|train_\*\.bin")
VAL_NAME = re.compile(
    r"^_?(val|valid|validation|eval)_?(tokens?|toks|ids|data|files?|np|stream|seq|set|arr|buf|"
    r"loader|shards?|pattern|glob)$|^(load_)?val(idation)?_tokens?$",
    re.I,
)
TRAIN_NAME = re.compile(r"^_?train_?(files?|tokens?|toks|shards?|pattern|glob|loader|stream|data_files)$", re.I)
VAL_LOADER_CALL = re.compile(r"load_val|load_validation|val_loader|ValidationData|read_val", re.I)
TRAIN_LOADER_CALL = re.compile(r"^(DistributedTokenLoader|TokenStream|ShuffledSequenceLoader|TrainLoader)$")

# Names that mark a value as the token being predicted (weak evidence alone).
TARGET_NAME = re.compile(
    r"^_?(y|ys|yb|tgt|tgts|target|targets|target_ids|target_tokens|y_batch|labels|"
    r"next_tok|next_token|next_tokens|true_tok|gold|gold_ids)$"
)
INPUT_NAME = re.compile(r"^_?(x|xb|x_batch|inp|inputs|input_ids|ctx_ids)$")

# Value-preserving tensor/array methods: the result carries every role of the receiver.
PROPAGATORS = frozenset(
    {
        "to",
        "long",
        "int",
        "float",
        "double",
        "half",
        "bfloat16",
        "cpu",
        "cuda",
        "numpy",
        "tolist",
        "item",
        "reshape",
        "view",
        "view_as",
        "flatten",
        "contiguous",
        "clone",
        "detach",
        "squeeze",
        "unsqueeze",
        "expand",
        "permute",
        "transpose",
        "t",
        "astype",
        "copy",
        "type",
        "pin_memory",
        "ravel",
        "roll",
        "repeat",
        "narrow",
        "unfold",
        "split",
        "chunk",
        "tensor_split",
        "index_select",
        "masked_select",
        "take",
        "flip",
        "as_strided",
        "__getitem__",
        "bitwise_xor",
        "bitwise_and",
        "remainder",
        "fmod",
        "mul",
        "add",
        "sub",
        "xor",
        "tobytes",
    }
)
# Module-level functions that preserve values of their arguments.
VALUE_FUNCS = frozenset(
    {
        "cat",
        "stack",
        "concatenate",
        "hstack",
        "vstack",
        "asarray",
        "array",
        "as_tensor",
        "tensor",
        "from_numpy",
        "ascontiguousarray",
        "tuple",
        "list",
        "int",
        "bitwise_xor",
        "bitwise_and",
        "remainder",
        "fmod",
        "roll",
        "where",
        "pad",
        "frombuffer",
        "fromfile",
        "memmap",
        "uint64",
        "int64",
        "uint32",
        "int32",
        "sliding_window_view",
        "hash",
        "sorted",
        "reversed",
        "zip",
        "enumerate",
        "bytes",
        "bytearray",
    }
)
# Calls whose result never carries the target's identity (a loss or a byte count is not a token).
SANITIZERS = frozenset(
    {
        "cross_entropy",
        "nll_loss",
        "log_softmax",
        "softmax",
        "logsumexp",
        "kl_div",
        "binary_cross_entropy",
        "mse_loss",
        "len",
        "numel",
        "size",
        "sum",
        "mean",
        "isinstance",
        "print",
        "log0",
        "str",
        "format",
    }
)

# Calls that print or log: what they read is reported, not used (and their messages witness a run in the logs).
LOG_CALLS = frozenset(
    {"log0", "print", "print0", "log", "log_fn", "_log", "log_main", "logprint", "info", "debug", "warning"}
)

# Hash-shaped arithmetic: xor, multiplication by a large constant, masking/modulo of a mixed value.
LARGE_MULTIPLIER = 1000
HASH_OPS_XOR = ("BitXor",)
HASH_OPS_MASK = ("BitAnd", "Modulo")

SCORE_TARGET = re.compile(
    r"(loss|nll|bpb|bits|logp|log_prob|logprob|ce)_?(sum|total|tot|acc|accum)s?$|"
    r"^(total|sum|cum|scored|acc|accum|val|eval|running)_(loss|nll|bpb|bits|logp|ce)(es|s)?$|"
    r"^(scored_nll|nlls|all_nll|token_nll|per_token_nll|val_loss|val_nll)$|"
    r"_(nll|nlls|losses|logprobs)$",
    re.I,
)
SCORE_CALL = re.compile(
    r"accumulate_bpb|accumulate_nll|accumulate_loss|record_score|add_score|_score_into|"
    r"update_bpb|tally",
    re.I,
)
NOT_SCORE = re.compile(r"train", re.I)

OPTIMIZER_NAME = re.compile(r"opt|optim|optimizer|muon|adam|sgd|lbfgs|scheduler", re.I)
OPTIMIZER_CTOR = re.compile(r"^(SGD|Adam|AdamW|LBFGS|Muon|RMSprop|Adagrad|Lion|NorMuon|Adafactor)$")
NO_GRAD_CALLS = frozenset({"no_grad", "inference_mode"})

EPOCH_LOOP = re.compile(r"epoch|\bep\b|_ep\b|\bpass|n_pass|num_pass|\bround|repeat|n_iter|ttt_steps|rescore", re.I)

CALIBRATION_CALL = re.compile(r"hessian|calib|gptq|awq|quantize_with|collect_stats|clip_search|hutchinson", re.I)
SERIALIZE_CALL = re.compile(r"^(save|dump|compress|tofile|write|savez|savez_compressed)$")
TABLE_CTORS = frozenset({"zeros", "zeros_like", "empty", "full", "ones", "defaultdict", "Counter", "dict"})
COUNT_WRITERS = frozenset({"add.at", "bincount", "index_add_", "scatter_add_", "index_put_", "put_"})

DRIVER_NAMES = ("main", "train_and_eval", "run", "train_main", "_main")
TTT_NAME = re.compile(r"ttt|adapt|finetune|fine_tune|test_time", re.I)
EVAL_NAME = re.compile(r"eval|score|valid|ttt|bpb", re.I)
RESERVE_NAME = re.compile(r"reserve", re.I)
LOSS_LIKE = re.compile(r"nll|loss|bpb|logp|log_prob|ce\b", re.I)
TILT_GATE_KNOB = re.compile(r"^(within|word|agree)\w*_?(boost|beta|bonus|add|weight|scale)$", re.I)
TOKEN_IDS = re.compile(r"ids|tok|idx|input", re.I)
SHIFT_HELPER = re.compile(r"shift|smear|prev_tok|previous", re.I)
TILT_NAME = re.compile(r"tilt|hint", re.I)  # n-gram tilt code: hint tables and the closed-form tilt
