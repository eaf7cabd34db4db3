"""Hyper-parameters: a preset chosen by one env var (`PRESET`), any field overridden by its own env var.

PRESET=baseline is the challenge's naive baseline (9x512, 8 heads / 4 KV heads, MLP 2x relu^2, vocab 1024, int8 is
replaced by our int6 + LZMA); PRESET=pr1250 is the seed config of PR #1250 (11x512, 8 KV heads, MLP 3.5x
LeakyReLU(0.5)^2, BigramHash 3072x112, EMA, GPTQ + LZMA, sliding window, score-first TTT). PR #1250's "int6"
clips codes to +-15 (31 levels), which is QUANT_BITS=5 here (codes in +-(2^(bits-1) - 1)). Warm-down as a
fraction of the run: the baseline's 1200 iterations at 43.5 ms/step are 0.087 of 600 s; PR #1250's 3500 at its
235 ms/step are 1.4 x its 585 s, so its LR decays linearly over the whole run from 0.71 (WARMDOWN_FRAC=1.4).
"""

import os

PRESETS: dict[str, dict[str, object]] = {
    "baseline": dict(
        NUM_LAYERS=9, MODEL_DIM=512, NUM_HEADS=8, NUM_KV_HEADS=4, MLP_MULT=2.0, MLP_ACT="relu2",
        BIGRAM_VOCAB_SIZE=0, BIGRAM_DIM=128, TRAIN_SEQ_LEN=1024, TRAIN_BATCH_TOKENS=524_288,
        TIED_EMBED_LR=0.05, MATRIX_LR=0.04, SCALAR_LR=0.04, MUON_MOMENTUM=0.95, MUON_MOMENTUM_WARMUP_START=0.85,
        MUON_MOMENTUM_WARMUP_STEPS=500, MUON_WD=0.0, ADAM_WD=0.0, GRAD_CLIP_NORM=0.0, WARMDOWN_FRAC=0.087,
        AVERAGING="none", GPTQ_ENABLED=0, GPTQ_RESERVE_SECONDS=0.0, EVAL_STRIDE=0, TTT_ENABLED=0,
        # measured on an H200 (scripts/sweep_reference.py): cuBLAS + inductor's relu^2 beat the Triton MLP kernel
        # at this shape, and 2 micro-batches per step on one GPU launch half the kernels of 4 (8 GPUs: 1 each)
        FUSED_MLP=0, MICRO_BATCH_TOKENS=262_144,
    ),
    "pr1250": dict(
        NUM_LAYERS=11, MODEL_DIM=512, NUM_HEADS=8, NUM_KV_HEADS=8, MLP_MULT=3.5, MLP_ACT="leaky_relu2",
        BIGRAM_VOCAB_SIZE=3072, BIGRAM_DIM=112, TRAIN_SEQ_LEN=2048, TRAIN_BATCH_TOKENS=786_432,
        TIED_EMBED_LR=0.035, MATRIX_LR=0.025, SCALAR_LR=0.025, MUON_MOMENTUM=0.99, MUON_MOMENTUM_WARMUP_START=0.92,
        MUON_MOMENTUM_WARMUP_STEPS=1500, MUON_WD=0.04, ADAM_WD=0.04, GRAD_CLIP_NORM=0.3, WARMDOWN_FRAC=1.4,
        AVERAGING="ema", GPTQ_ENABLED=1, GPTQ_RESERVE_SECONDS=15.0, QUANT_BITS=5, EVAL_STRIDE=64, TTT_ENABLED=1,
    ),
}
PRESET = os.environ.get("PRESET", "pr1250")
if PRESET not in PRESETS:
    raise ValueError(f"PRESET={PRESET!r} is not one of {sorted(PRESETS)}")
PRESET_DEFAULTS = PRESETS[PRESET]


def preset(name: str, default: object) -> str:
    """The preset's value for the env var `name`, else `default`, as text (the env var itself wins: each field
    reads `os.environ.get(NAME, preset(NAME, ...))` literally, so tools that look for env knobs find them)."""
    return str(PRESET_DEFAULTS.get(name, default))


class Hyperparameters:
    # data (shards with the 20240520 header, a sentencepiece model for the byte LUTs)
    data_path = os.environ.get("DATA_PATH", "./data/datasets/fineweb10B_sp1024")
    train_files = os.path.join(data_path, "fineweb_train_*.bin")
    val_files = os.path.join(data_path, "fineweb_val_*.bin")
    tokenizer_path = os.environ.get("TOKENIZER_PATH", "./data/tokenizers/fineweb_1024_bpe.model")
    run_id = os.environ.get("RUN_ID", "reference")
    seed = int(os.environ.get("SEED", "1337"))

    # model shape
    vocab_size = int(os.environ.get("VOCAB_SIZE", preset("VOCAB_SIZE", 1024)))
    num_layers = int(os.environ.get("NUM_LAYERS", preset("NUM_LAYERS", 9)))
    model_dim = int(os.environ.get("MODEL_DIM", preset("MODEL_DIM", 512)))
    num_heads = int(os.environ.get("NUM_HEADS", preset("NUM_HEADS", 8)))
    num_kv_heads = int(os.environ.get("NUM_KV_HEADS", preset("NUM_KV_HEADS", 4)))
    mlp_mult = float(os.environ.get("MLP_MULT", preset("MLP_MULT", 2.0)))
    mlp_act = os.environ.get("MLP_ACT", preset("MLP_ACT", "relu2"))
    # the fused Triton MLP kernel on CUDA (reference/fused_mlp.py reads the same env var), else cuBLAS + inductor
    fused_mlp = bool(int(os.environ.get("FUSED_MLP", preset("FUSED_MLP", 1))))
    bigram_vocab_size = int(os.environ.get("BIGRAM_VOCAB_SIZE", preset("BIGRAM_VOCAB_SIZE", 0)))
    bigram_dim = int(os.environ.get("BIGRAM_DIM", preset("BIGRAM_DIM", 128)))
    rope_base = float(os.environ.get("ROPE_BASE", preset("ROPE_BASE", 10000.0)))
    logit_softcap = float(os.environ.get("LOGIT_SOFTCAP", preset("LOGIT_SOFTCAP", 30.0)))
    qk_gain_init = float(os.environ.get("QK_GAIN_INIT", preset("QK_GAIN_INIT", 1.5)))
    tied_embed_init_std = float(os.environ.get("TIED_EMBED_INIT_STD", preset("TIED_EMBED_INIT_STD", 0.005)))
    # the residual stream in fp32 instead of autocast's bf16 (slower: twice the bytes of the elementwise kernels)
    residual_fp32 = bool(int(os.environ.get("RESIDUAL_FP32", preset("RESIDUAL_FP32", 0))))

    # batch and length: the global batch is fixed; micro-batches and accumulation adapt to the world size
    train_seq_len = int(os.environ.get("TRAIN_SEQ_LEN", preset("TRAIN_SEQ_LEN", 1024)))
    train_batch_tokens = int(os.environ.get("TRAIN_BATCH_TOKENS", preset("TRAIN_BATCH_TOKENS", 524_288)))
    # tokens per rank per forward pass (capped at TRAIN_BATCH_TOKENS / world size)
    micro_batch_tokens = int(os.environ.get("MICRO_BATCH_TOKENS", preset("MICRO_BATCH_TOKENS", 131_072)))
    iterations = int(os.environ.get("ITERATIONS", preset("ITERATIONS", 20000)))
    max_wallclock_seconds = float(os.environ.get("MAX_WALLCLOCK_SECONDS", preset("MAX_WALLCLOCK_SECONDS", 600.0)))
    # compile priming, rolled back before the clock starts
    warmup_steps = int(os.environ.get("WARMUP_STEPS", preset("WARMUP_STEPS", 20)))
    lr_warmup_frac = float(os.environ.get("LR_WARMUP_FRAC", preset("LR_WARMUP_FRAC", 0.0)))
    warmdown_frac = float(os.environ.get("WARMDOWN_FRAC", preset("WARMDOWN_FRAC", 0.087)))
    val_loss_every = int(os.environ.get("VAL_LOSS_EVERY", preset("VAL_LOSS_EVERY", 0)))
    train_log_every = int(os.environ.get("TRAIN_LOG_EVERY", preset("TRAIN_LOG_EVERY", 200)))
    compile = bool(int(os.environ.get("COMPILE", preset("COMPILE", 1))))
    # torch.compile mode for the training model ("" = default; e.g. max-autotune-no-cudagraphs)
    compile_mode = os.environ.get("COMPILE_MODE", preset("COMPILE_MODE", ""))

    # optimizers: Muon for block matrices, Adam for embeddings and scalars
    tied_embed_lr = float(os.environ.get("TIED_EMBED_LR", preset("TIED_EMBED_LR", 0.05)))
    matrix_lr = float(os.environ.get("MATRIX_LR", preset("MATRIX_LR", 0.04)))
    scalar_lr = float(os.environ.get("SCALAR_LR", preset("SCALAR_LR", 0.04)))
    muon_momentum = float(os.environ.get("MUON_MOMENTUM", preset("MUON_MOMENTUM", 0.95)))
    muon_backend_steps = int(os.environ.get("MUON_BACKEND_STEPS", preset("MUON_BACKEND_STEPS", 5)))
    muon_momentum_warmup_start = float(os.environ.get("MUON_MOMENTUM_WARMUP_START",
                                                      preset("MUON_MOMENTUM_WARMUP_START", 0.85)))
    muon_momentum_warmup_steps = int(os.environ.get("MUON_MOMENTUM_WARMUP_STEPS",
                                                    preset("MUON_MOMENTUM_WARMUP_STEPS", 500)))
    muon_wd = float(os.environ.get("MUON_WD", preset("MUON_WD", 0.0)))
    adam_wd = float(os.environ.get("ADAM_WD", preset("ADAM_WD", 0.0)))
    beta1 = float(os.environ.get("BETA1", preset("BETA1", 0.9)))
    beta2 = float(os.environ.get("BETA2", preset("BETA2", 0.95)))
    adam_eps = float(os.environ.get("ADAM_EPS", preset("ADAM_EPS", 1e-8)))
    grad_clip_norm = float(os.environ.get("GRAD_CLIP_NORM", preset("GRAD_CLIP_NORM", 0.0)))

    # weight averaging: "ema", "swa" (uniform average over the warmdown) or "none"
    averaging = os.environ.get("AVERAGING", preset("AVERAGING", "none"))
    ema_decay = float(os.environ.get("EMA_DECAY", preset("EMA_DECAY", 0.997)))
    swa_every = int(os.environ.get("SWA_EVERY", preset("SWA_EVERY", 50)))

    # artifact: GPTQ calibration on train shards inside the wall clock (the reserve shortens the loop)
    gptq_enabled = bool(int(os.environ.get("GPTQ_ENABLED", preset("GPTQ_ENABLED", 0))))
    gptq_reserve_seconds = float(os.environ.get("GPTQ_RESERVE_SECONDS", preset("GPTQ_RESERVE_SECONDS", 0.0)))
    gptq_calib_seqs = int(os.environ.get("GPTQ_CALIB_SEQS", preset("GPTQ_CALIB_SEQS", 64)))
    # "train": sequences of the train shards (inside the reserve); "self": sequences the trained model samples from
    # BOS at GPTQ_CALIB_TEMPERATURE (data-free, as PR #1019), GPTQ_CALIB_SEQ_LEN tokens long
    gptq_calibration = os.environ.get("GPTQ_CALIBRATION", preset("GPTQ_CALIBRATION", "train"))
    gptq_calib_seq_len = int(os.environ.get("GPTQ_CALIB_SEQ_LEN", preset("GPTQ_CALIB_SEQ_LEN", 512)))
    gptq_calib_temperature = float(os.environ.get("GPTQ_CALIB_TEMPERATURE", preset("GPTQ_CALIB_TEMPERATURE", 0.8)))
    quant_bits = int(os.environ.get("QUANT_BITS", preset("QUANT_BITS", 6)))
    compressor = os.environ.get("COMPRESSOR", preset("COMPRESSOR", "lzma"))

    # evaluation: full split, then sliding window (stride 0 = off), then score-first TTT over the same windows
    eval_seq_len = int(os.environ.get("EVAL_SEQ_LEN", preset("EVAL_SEQ_LEN", 0)))  # 0 = TRAIN_SEQ_LEN
    eval_batch_seqs = int(os.environ.get("EVAL_BATCH_SEQS", preset("EVAL_BATCH_SEQS", 32)))
    eval_stride = int(os.environ.get("EVAL_STRIDE", preset("EVAL_STRIDE", 0)))
    ttt_enabled = bool(int(os.environ.get("TTT_ENABLED", preset("TTT_ENABLED", 0))))
    ttt_epochs = int(os.environ.get("TTT_EPOCHS", preset("TTT_EPOCHS", 3)))
    ttt_lr = float(os.environ.get("TTT_LR", preset("TTT_LR", 0.0001)))
    ttt_chunk_tokens = int(os.environ.get("TTT_CHUNK_TOKENS", preset("TTT_CHUNK_TOKENS", 131_072)))
    # the last N blocks (and every norm and scale) adapt
    ttt_train_blocks = int(os.environ.get("TTT_TRAIN_BLOCKS", preset("TTT_TRAIN_BLOCKS", 2)))
