"""Loading a submission: script discovery, byte checks, shims, claims, launch env and logged hyper-parameters."""
from __future__ import annotations

import base64
import hashlib
import json
import lzma
import os
from pathlib import Path

import pytest

from auditor.load.errors import InputError, Unanalyzable
from auditor.load.source import load
from auditor.model import Claims

SCRIPT = "import os\nSTEPS = int(os.environ.get('STEPS', '3'))\nprint(STEPS)\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def shim(code: str) -> str:
    packed = lzma.compress(code.encode(), format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}])
    return ("import lzma as L,base64 as B\n"
            f'exec(L.decompress(B.b85decode("{base64.b85encode(packed).decode()}"),format=L.FORMAT_RAW,'
            'filters=[{"id":L.FILTER_LZMA2}]))\n')


# ---------------------------------------------------------------------------------------------- paths


def test_missing_path() -> None:
    with pytest.raises(InputError, match="^no such file or directory: /no/such/place$"):
        load("/no/such/place")


def test_folder_without_a_script(tmp_path: Path) -> None:
    write(tmp_path, "model.py", SCRIPT)
    with pytest.raises(InputError, match="no training script"):
        load(str(tmp_path))


@pytest.mark.parametrize(("files", "expected"), [
    (["train_gpt.py", "train_gpt_v2.py", "train_other.py"], "train_gpt.py"),
    (["train_gpt_mine.py", "train_helper.py"], "train_gpt_mine.py"),
    (["train_jepa.py", "helpers.py"], "train_jepa.py"),
    (["src/train_gpt.py", "src/util.py"], "src/train_gpt.py"),
])
def test_discovery(tmp_path: Path, files: list[str], expected: str) -> None:
    for name in files:
        write(tmp_path, name, SCRIPT)
    source = load(str(tmp_path))
    assert source.script == tmp_path / expected
    assert source.folder == tmp_path and source.notes == ()


def test_ambiguous_discovery_picks_the_largest_and_notes_it(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt_a.py", SCRIPT)
    write(tmp_path, "train_gpt_b.py", SCRIPT + "# longer\n")
    source = load(str(tmp_path))
    assert source.script.name == "train_gpt_b.py"
    assert source.notes and "train_gpt_b.py (the largest) among 2" in source.notes[0]


def test_top_level_wins_over_subfolders(tmp_path: Path) -> None:
    write(tmp_path, "train_small.py", SCRIPT)
    write(tmp_path, "old/train_gpt.py", SCRIPT * 10)
    assert load(str(tmp_path)).script.name == "train_small.py"


def test_link_out_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    outside = write(tmp_path, "elsewhere/train_gpt.py", SCRIPT)
    folder = tmp_path / "rec"
    folder.mkdir()
    os.symlink(outside, folder / "train_gpt.py")
    with pytest.raises(InputError, match="no training script"):
        load(str(folder))


def test_file_path_reads_the_record_beside_it(tmp_path: Path) -> None:
    script = write(tmp_path, "train_gpt.py", SCRIPT)
    assert load(str(script)).folder is None
    write(tmp_path, "submission.json", json.dumps({"name": "Beside"}))
    source = load(str(script))
    assert source.folder == tmp_path and source.claims.title == "Beside"
    assert source.path == str(script)


# ---------------------------------------------------------------------------------------------- bytes


def test_bytes_hash_and_plain_code(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    source = load(str(tmp_path))
    assert source.raw == SCRIPT.encode() and source.size == len(SCRIPT)
    assert source.sha256 == hashlib.sha256(SCRIPT.encode()).hexdigest()
    assert source.code == source.text == SCRIPT and source.wrapper is None
    info = source.source_info()
    assert info.size == len(SCRIPT) and info.inner_size is None and info.wrapper is None


def test_wrapped_script(tmp_path: Path) -> None:
    shipped = shim(SCRIPT)
    write(tmp_path, "train_gpt.py", shipped)
    source = load(str(tmp_path))
    assert source.code == SCRIPT and source.text == shipped
    assert source.sha256 == hashlib.sha256(shipped.encode()).hexdigest()
    info = source.source_info()
    assert info.wrapper == "lzma(raw)+b85 exec shim" and info.inner_size == len(SCRIPT)
    assert info.size == len(shipped)


def test_sibling_exec_through_load(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", 'exec(open(__file__.replace("train_gpt.py", "train_impl.py")).read())\n')
    write(tmp_path, "train_impl.py", SCRIPT)
    source = load(str(tmp_path))
    assert source.code == SCRIPT and source.siblings == ("train_impl.py",)
    assert source.sibling_sources == {}


def test_imported_siblings(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", "import numpy\nfrom tilt_helper import tilt\nimport absent_mod\n" + SCRIPT)
    write(tmp_path, "tilt_helper.py", "import cache_mod\n\ndef tilt(x):\n    return x\n")
    write(tmp_path, "cache_mod.py", shim("TABLE = {}\n"))  # read transitively, and unwrapped too
    source = load(str(tmp_path))
    assert source.siblings == ("tilt_helper.py", "cache_mod.py")
    assert source.sibling_sources["cache_mod.py"] == "TABLE = {}\n"
    assert source.sibling_sources["tilt_helper.py"].startswith("import cache_mod")


@pytest.mark.parametrize(
    ("siblings", "parsed"),
    [({}, False), ({"unused_mod.py": "X = 1\n"}, False), ({"helper.py": "X = 1\n"}, True)],
    ids=["none", "not-named", "named"],
)
def test_the_script_is_parsed_for_its_imports_only_when_it_names_a_sibling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, siblings: dict[str, str], parsed: bool
) -> None:
    from auditor.load import unwrap

    seen: list[str] = []
    monkeypatch.setattr(unwrap, "python_ast", lambda code: seen.append(code))
    script = "import helper\n" + SCRIPT
    write(tmp_path, "train_gpt.py", script)
    for name, text in siblings.items():
        write(tmp_path, name, text)
    source = load(str(tmp_path))
    assert (script in seen) is parsed
    assert source.siblings == (("helper.py",) if parsed else ())


def test_binary_imported_sibling_fails_closed(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", "import blob_mod\n")
    write(tmp_path, "blob_mod.py", b"\x00\x01\x02")
    with pytest.raises(Unanalyzable, match="^sibling file blob_mod.py: binary file, not Python source$"):
        load(str(tmp_path))


@pytest.mark.parametrize(("content", "message"), [
    (b"", "^empty file$"),
    (b"\n   \n\t", "^empty file$"),
    (b"import os\x00\x00", "^binary file, not Python source$"),
    (b"x = 1\n# caf\xe9\n", r"^not UTF-8 text: invalid continuation byte at byte offset 11$"),
])
def test_unanalyzable_bytes(tmp_path: Path, content: bytes, message: str) -> None:
    write(tmp_path, "train_gpt.py", content)
    with pytest.raises(Unanalyzable, match=message):
        load(str(tmp_path))


def test_latin1_with_coding_cookie(tmp_path: Path) -> None:
    text = "# -*- coding: latin-1 -*-\nlabel = 'déjà vu'\n"
    write(tmp_path, "train_gpt.py", text.encode("latin-1"))
    source = load(str(tmp_path))
    assert source.code == text and source.raw == text.encode("latin-1")


def test_huge_file(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", "x = 1\n" * 200)
    limit = r"^file is 1200 bytes, over the 1000-byte limit \(raise it with --max-bytes\)$"
    with pytest.raises(Unanalyzable, match=limit):
        load(str(tmp_path), max_bytes=1000)
    assert load(str(tmp_path), max_bytes=1200).size == 1200


# ---------------------------------------------------------------------------------------------- claims


def test_claims_from_submission_json(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    write(tmp_path, "submission.json", json.dumps({
        "name": "Tiny run", "val_bpb": 1.2345, "seeds": [1, 7, "9"], "bytes_total": 15_000_000,
        "seed_results": {"100": {}},
    }))
    assert load(str(tmp_path)).claims == Claims("Tiny run", 1.2345, ("1", "7", "9"), 15_000_000)


def test_claims_fallbacks_and_wrong_types(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    write(tmp_path, "README.md", "```bash\n# not a title\n```\n\n# My Record Title\n\nText.\n")
    write(tmp_path, "submission.json", json.dumps({
        "name": 42, "val_bpb": "1.1", "seed_results": {"3": {}, "4": {}}, "bytes_total": "big",
        "artifact_bytes_max": 123,
    }))
    assert load(str(tmp_path)).claims == Claims("My Record Title", None, ("3", "4"), 123)


def test_seeds_dict_and_non_object_json(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    write(tmp_path, "submission.json", json.dumps({"seeds": {"42": 1.1, "1337": 1.2}, "val_bpb": True}))
    assert load(str(tmp_path)).claims == Claims(seeds=("42", "1337"))
    write(tmp_path, "submission.json", "[1, 2]")
    assert load(str(tmp_path)).claims == Claims()


def test_malformed_submission_json(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    write(tmp_path, "submission.json", '{\n  "name": "x",\n  "val_bpb": 1.2,\n}\n')
    with pytest.raises(InputError) as info:
        load(str(tmp_path))
    assert str(info.value) == (f"{tmp_path}/submission.json: invalid JSON: "
                               "Expecting property name enclosed in double quotes (line 4, column 1)")


# ---------------------------------------------------------------------------------------------- launch env

README = """# Run

Set `SEED=5` for another seed, or run `SEED=6 torchrun --nproc_per_node=8 train_gpt.py` directly.

```bash
NGRAM_ENABLED=1 TTT_EPOCHS=3 \\
  RUN_ID=<seed> torchrun --standalone --nproc_per_node=8 train_gpt.py   # main run
$ export SLOT_ENABLED=1
pip install numpy && DATA_DIR=./data python3 prep.py
```

```python
TTT_ENABLED = 1
import os; os.environ["FOO_BAR"] = "1"
```

TTT_LR=0.5 torchrun --nproc_per_node=8 train_gpt.py
"""


def test_launch_env_from_readme_and_scripts(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    write(tmp_path, "README.md", README)
    write(tmp_path, "run.sh", "#!/bin/bash\nset -e\nexport TTT_EPOCHS=4 MODEL_DIM=512  # later wins\n"
                              'SEED="${SEED:-42}"\nOUT_DIR=${DATA_DIR}/out\nlower_case=1\n'
                              'echo "NOT_ME=1"\nfor s in 1 2; do\n  NGRAM_ORDER=$s torchrun x.py\ndone\n')
    env = load(str(tmp_path)).launch_env
    assert env == {
        "SEED": "6", "NGRAM_ENABLED": "1", "TTT_EPOCHS": "4", "RUN_ID": "<seed>", "SLOT_ENABLED": "1",
        "DATA_DIR": "./data", "TTT_LR": "0.5", "MODEL_DIM": "512", "OUT_DIR": "./data/out", "NGRAM_ORDER": "$s",
    }


def test_no_record_files_means_empty_extras(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    source = load(str(tmp_path))
    assert source.launch_env == {} and source.logged_hparams == {} and source.claims == Claims()


# ---------------------------------------------------------------------------------------------- logs

LOG = """import torch
def f(lr=0.1):
    return dict(momentum=0.9)
====================================================================================================
Hyperparameters:
  ttt_epochs: 3
  ngram_enabled: True
  Model_Dim: 512
step:0/100 val_loss:6.9 val_bpb:4.1
ttt_sliding:start chunks=1893 ttt_lr=0.002 ttt_epochs=9 stride=64,
"""


def test_logged_hparams(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    write(tmp_path, "a_seed1.log", LOG)
    write(tmp_path, "b_seed2.log", "  ttt_epochs: 7\n  extra_knob: on\n")
    write(tmp_path, "notes.txt", "  secret_knob: 1\nplain notes\n")  # a .txt without val_bpb/step: is no log
    write(tmp_path, "train_seed3.txt", "step:1/10 train_loss:2.0\n  txt_knob: yes\n")
    hparams = load(str(tmp_path)).logged_hparams
    assert hparams == {"ttt_epochs": "3", "ngram_enabled": "True", "chunks": "1893", "ttt_lr": "0.002",
                       "stride": "64", "extra_knob": "on", "txt_knob": "yes"}


def test_logs_are_read_only_at_the_head(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    write(tmp_path, "train.log", "step:1 x\n" * 500 + "  late_knob: 1\n")
    assert load(str(tmp_path)).logged_hparams == {}


def test_launch_env_from_a_launcher_env_option(tmp_path: Path) -> None:
    write(tmp_path, "train_gpt.py", SCRIPT)
    write(tmp_path, "README.md", "```bash\npython launch.py --gpus 8 --extra-env \"TTT_ENABLED=1;CATS=mlp,attn\" "
                                 "--note \"NOT_ME=1\"\n```\n")
    assert load(str(tmp_path)).launch_env == {"TTT_ENABLED": "1", "CATS": "mlp,attn"}


def test_launcher_env_reaches_the_launch_environment(tmp_path: Path) -> None:
    write(tmp_path, "impl.py", SCRIPT)
    write(tmp_path, "train_gpt.py", 'import os\nos.environ.setdefault("TTT_EPOCHS", "2")\n'
                                    'os.environ["USE_VAL"] = "1"\n'
                                    'exec(open(os.path.join(os.path.dirname(__file__), "impl.py")).read())\n')
    write(tmp_path, "README.md", "```bash\nTTT_EPOCHS=5 USE_VAL=0 torchrun train_gpt.py\n```\n")
    env = load(str(tmp_path)).launch_env
    assert env["TTT_EPOCHS"] == "5"  # the command beats a setdefault
    assert env["USE_VAL"] == "1"  # the launcher's assignment beats the command
