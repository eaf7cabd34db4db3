"""Data sets from text files on the machine (`auditor.data.corpus`), at toy size."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
spm = pytest.importorskip("sentencepiece")

from auditor.cli import main  # noqa: E402
from auditor.data.corpus import corpus_dataset, digest, encode_parallel, expand, read_documents  # noqa: E402
from auditor.data.shards import read_shard  # noqa: E402
from auditor.data.synth import bundled_documents  # noqa: E402


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    """40 files of pydoc topics in nested folders, plus a duplicate, an empty and a non-UTF-8 file."""
    root = tmp_path_factory.mktemp("texts")
    docs = bundled_documents()[:40]
    for i, doc in enumerate(docs):
        path = root / f"pkg{i % 3}" / f"mod{i:02d}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(doc, encoding="utf-8")
    (root / "pkg0" / "copy.py").write_text(docs[5], encoding="utf-8")
    (root / "pkg1" / "empty.py").write_text("\n", encoding="utf-8")
    (root / "pkg2" / "latin1.py").write_bytes(b"caf\xe9\n")
    return root, docs


@pytest.fixture(scope="module")
def built(texts, tmp_path_factory):
    root, _ = texts
    files = expand([str(root / "**" / "*.py")])
    out = tmp_path_factory.mktemp("corpus")
    return files, corpus_dataset(files, out, vocab_size=384, val_tokens=3_000, max_train_tokens=40_000, workers=2)


def split_docs(tokens, bos):
    return [d for d in np.split(tokens, np.flatnonzero(tokens == bos)[1:]) if d.size]


def test_files_are_read_once_each_and_only_text(texts):
    root, docs = texts
    read = read_documents(expand([str(root / "**" / "*.py")]))
    assert len(read) == len(docs)  # copy, empty and non-UTF-8 files dropped
    names = [p for p, _ in read]
    assert names == sorted(names)
    # the first of equal files in path order stays: pkg0/copy.py, not pkg2/mod05.py
    assert any(p.endswith("pkg0/copy.py") for p in names) and not any(p.endswith("mod05.py") for p in names)


def test_sizes_layout_and_bos(built):
    _, ds = built
    sp = spm.SentencePieceProcessor(model_file=str(ds.tokenizer_path))
    train = np.concatenate([read_shard(p) for p in ds.train_files])
    val = read_shard(ds.val_files[0])
    assert sp.vocab_size() == 384 and [p.name for p in ds.val_files] == ["fineweb_val_000000.bin"]
    assert train.size == 40_000 and val.size == 3_000
    assert train[0] == val[0] == sp.bos_id()


def test_val_files_are_held_out_of_train(built):
    _, ds = built
    sp = spm.SentencePieceProcessor(model_file=str(ds.tokenizer_path))
    train = np.concatenate([read_shard(p) for p in ds.train_files])
    val = read_shard(ds.val_files[0])
    val_docs = {sp.decode(d.tolist())[:100] for d in split_docs(val, sp.bos_id())}
    train_docs = {sp.decode(d.tolist())[:100] for d in split_docs(train, sp.bos_id())}
    assert len(val_docs) >= 1 and len(train_docs) > 5 and not val_docs & train_docs


def test_the_same_files_give_the_same_digest(built, tmp_path):
    files, ds = built
    again = corpus_dataset(files, tmp_path, vocab_size=384, val_tokens=3_000, max_train_tokens=40_000, workers=1)
    assert digest(again) == digest(ds)
    other = corpus_dataset(files, tmp_path / "s1", vocab_size=384, val_tokens=3_000, max_train_tokens=40_000,
                           seed=1, workers=1)
    assert digest(other) != digest(ds)


def test_parallel_encoding_equals_serial_and_stops_at_the_cap(built, texts):
    _, ds = built
    _, docs = texts
    serial = encode_parallel(docs, ds.tokenizer_path, workers=1, chunk_chars=5_000)
    parallel = encode_parallel(docs, ds.tokenizer_path, workers=2, chunk_chars=5_000)
    assert serial.dtype == np.uint16 and np.array_equal(serial, parallel)
    assert np.array_equal(encode_parallel(docs, ds.tokenizer_path, max_tokens=1_234, workers=2), serial[:1_234])


def test_cli_corpus_prints_env_and_digest(texts, tmp_path, capsys):
    root, _ = texts
    assert main(["data", "corpus", str(tmp_path / "c"), str(root / "**" / "*.py"), "--vocab-size", "384",
                 "--val-tokens", "2000", "--train-tokens", "5000", "--workers", "1"]) == 0
    env = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert set(env) == {"DATA_PATH", "TOKENIZER_PATH", "VOCAB_SIZE", "SHA256"} and len(env["SHA256"]) == 64


def test_cli_corpus_bad_input_is_one_line(texts, tmp_path, capsys):
    root, _ = texts
    assert main(["data", "corpus", str(tmp_path / "c"), str(tmp_path / "none" / "*.py")]) == 2
    assert main(["data", "corpus", str(tmp_path / "c"), str(root / "pkg0" / "mod00.py")]) == 2  # one file
    assert main(["data", "corpus", str(tmp_path / "c"), str(root / "**" / "*.py"), "--workers", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("pgolf-audit: error: ") for line in err)
    assert "matches no file" in err[0] and "at least 2 distinct" in err[1] and "--workers" in err[2]
