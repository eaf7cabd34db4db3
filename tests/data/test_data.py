"""Shards and toy data sets in the challenge's format."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
spm = pytest.importorskip("sentencepiece")

from auditor.cli import main  # noqa: E402
from auditor.data.shards import HEADER_INTS, MAGIC, read_shard, write_shard  # noqa: E402
from auditor.data.synth import synth_dataset  # noqa: E402
from auditor.load.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return synth_dataset(tmp_path_factory.mktemp("ds"), vocab_size=512, train_tokens=20_000, val_tokens=4_000,
                         train_shards=2)


def test_shard_layout_is_the_challenges(tmp_path):
    path = write_shard(tmp_path / "s.bin", np.array([1, 2, 65535]))
    raw = path.read_bytes()
    header = np.frombuffer(raw[: HEADER_INTS * 4], dtype="<i4")
    assert list(header[:3]) == [MAGIC, 1, 3] and len(raw) == HEADER_INTS * 4 + 6
    assert read_shard(path).tolist() == [1, 2, 65535]


@pytest.mark.parametrize("payload", [b"", b"\0" * 2000, b"x" * 1030])
def test_non_shards_are_input_errors(tmp_path, payload):
    path = tmp_path / "bad.bin"
    path.write_bytes(payload)
    with pytest.raises(InputError, match="not a token shard"):
        read_shard(path)


def test_truncated_shard_is_reported(tmp_path):
    path = write_shard(tmp_path / "s.bin", np.arange(10))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(InputError, match="header says 10 tokens, file holds 8"):
        read_shard(path)


def test_dataset_sizes_names_and_env(dataset):
    assert [p.name for p in dataset.train_files] == ["fineweb_train_000000.bin", "fineweb_train_000001.bin"]
    assert sum(read_shard(p).size for p in dataset.train_files) == 20_000
    assert read_shard(dataset.val_files[0]).size == 4_000
    assert dataset.env()["DATA_PATH"] == str(dataset.data_path) and dataset.env()["VOCAB_SIZE"] == "512"


def test_documents_start_with_bos_and_val_is_held_out(dataset):
    sp = spm.SentencePieceProcessor(model_file=str(dataset.tokenizer_path))
    val = read_shard(dataset.val_files[0])
    train = np.concatenate([read_shard(p) for p in dataset.train_files])
    assert sp.vocab_size() == 512 and val[0] == sp.bos_id() and train[0] == sp.bos_id()
    val_docs = {sp.decode(d.tolist())[:200] for d in np.split(val, np.flatnonzero(val == sp.bos_id())[1:])}
    train_docs = {sp.decode(d.tolist())[:200] for d in np.split(train, np.flatnonzero(train == sp.bos_id())[1:])}
    assert len(val_docs) > 1 and not (val_docs - {""}) & train_docs


def test_cli_synth_and_tokenize(tmp_path, capsys):
    assert main(["data", "synth", str(tmp_path / "d"), "--vocab-size", "400", "--train-tokens", "1000"]) == 0
    env = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    text = tmp_path / "doc.txt"
    text.write_text("a document of plain words", encoding="utf-8")
    assert main(["data", "tokenize", str(text), "--tokenizer", env["TOKENIZER_PATH"], "--out", str(tmp_path / "o"),
                 "--split", "val"]) == 0
    assert read_shard(tmp_path / "o" / "fineweb_val_000000.bin").size > 3


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    model = tmp_path / "m.model"
    model.write_bytes(b"x")
    assert main(["data", "tokenize", str(tmp_path / "bin.txt"), "--tokenizer", str(model), "--out", "o"]) == 2
    assert main(["data", "synth", str(tmp_path / "d"), "--train-tokens", "0"]) == 2
    assert main(["data", "synth", str(tmp_path / "d"), "--vocab-size", "100"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("pgolf-audit: error: ") for line in err) and "not UTF-8" in err[0]
