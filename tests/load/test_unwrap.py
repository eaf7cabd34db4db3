"""Static unwrapping of exec shims: real compressors build the payloads, nothing is executed."""
from __future__ import annotations

import base64
import bz2
import lzma
import sys
import zlib
from pathlib import Path

import pytest

from auditor.load.errors import Unanalyzable
from auditor.load.unwrap import decode_source, imported_modules, unwrap

INNER = '''import os

def main():
    steps = int(os.environ.get("STEPS", "3"))  # the analysed code keeps its own line numbers
    for step in range(steps):
        print("step", step)

if __name__ == "__main__":
    main()
'''
RAW_FILTERS = [{"id": lzma.FILTER_LZMA2}]


def b85_raw(code: str) -> str:
    return base64.b85encode(lzma.compress(code.encode(), format=lzma.FORMAT_RAW, filters=RAW_FILTERS)).decode()


def raw_shim(code: str) -> str:
    return ("import lzma as L,base64 as B\n"
            f'exec(L.decompress(B.b85decode("{b85_raw(code)}"),format=L.FORMAT_RAW,'
            'filters=[{"id":L.FILTER_LZMA2}]))\n')


def run(tmp_path: Path, text: str, name: str = "train_gpt.py", **kwargs: int):
    script = tmp_path / name
    script.write_text(text)
    return unwrap(text, script=script, **kwargs)


def test_lzma_raw_b85_with_filters(tmp_path: Path) -> None:
    result = run(tmp_path, raw_shim(INNER))
    assert result.code == INNER
    assert result.wrapper == "lzma(raw)+b85 exec shim"
    assert result.layers == 1 and result.siblings == ()


def test_wrapper_size_line_and_split_literal(tmp_path: Path) -> None:
    payload = b85_raw(INNER)
    pieces = "\n".join(f'"{payload[i:i + 40]}"' for i in range(0, len(payload), 40))
    text = ("import lzma as L,base64 as B\n__wrapper_size__=1234\n"
            f"exec(L.decompress(B.b85decode({pieces}),format=L.FORMAT_RAW,filters=[{{\"id\":L.FILTER_LZMA2}}]))\n")
    assert run(tmp_path, text).code == INNER


def test_zlib_b64_plain_imports_and_decode(tmp_path: Path) -> None:
    payload = base64.b64encode(zlib.compress(INNER.encode())).decode()
    text = f'import zlib, base64\nexec(zlib.decompress(base64.b64decode("{payload}")).decode())\n'
    result = run(tmp_path, text)
    assert result.code == INNER
    assert result.wrapper == "zlib+b64 exec shim"


def test_bz2_a85_semicolon_one_liner(tmp_path: Path) -> None:
    payload = base64.a85encode(bz2.compress(INNER.encode())).decode()
    text = f'import bz2,base64;exec(bz2.decompress(base64.a85decode({payload!r})))\n'
    result = run(tmp_path, text)
    assert result.code == INNER and result.wrapper == "bz2+a85 exec shim"


@pytest.mark.parametrize(("fmt", "arg", "label"), [
    (lzma.FORMAT_XZ, "", "lzma"),
    (lzma.FORMAT_XZ, ", format=lzma.FORMAT_XZ", "lzma(xz)"),
    (lzma.FORMAT_ALONE, ", format=lzma.FORMAT_ALONE", "lzma(alone)"),
])
def test_lzma_container_formats(tmp_path: Path, fmt: int, arg: str, label: str) -> None:
    payload = base64.b85encode(lzma.compress(INNER.encode(), format=fmt)).decode()
    text = f'import lzma, base64\nexec(lzma.decompress(base64.b85decode("{payload}"){arg}).decode("utf-8"))\n'
    result = run(tmp_path, text)
    assert result.code == INNER and result.wrapper == f"{label}+b85 exec shim"


def test_from_import_aliases_variable_payload_and_replace(tmp_path: Path) -> None:
    payload = b85_raw(INNER)
    half = len(payload) // 2
    text = ("from lzma import decompress as D, FORMAT_RAW, FILTER_LZMA2\nfrom base64 import b85decode\n"
            f'_p = b"""\n{payload[:half]}\n"""\n_p += b"{payload[half:]}"\n'
            "_f: list = [{'id': FILTER_LZMA2, 'preset': 9 | 0}]\n"
            'exec(D(b85decode(_p.replace(b"\\n", b"")), format=FORMAT_RAW, filters=_f))\n')
    assert run(tmp_path, text).code == INNER


def test_main_guard_shim_and_compile(tmp_path: Path) -> None:
    payload = base64.b64encode(zlib.compress(INNER.encode())).decode()
    text = ('"""Shim."""\nimport zlib as Z, base64 as B\n'
            f'if __name__ == "__main__":\n    exec(compile(Z.decompress(B.b64decode("{payload}")), "x", "exec"))\n')
    assert run(tmp_path, text).code == INNER


def test_nested_double_wrap(tmp_path: Path) -> None:
    middle = raw_shim(INNER)
    outer_payload = base64.b64encode(zlib.compress(middle.encode())).decode()
    text = f'import zlib,base64\nexec(zlib.decompress(base64.b64decode("{outer_payload}")))\n'
    result = run(tmp_path, text)
    assert result.code == INNER
    assert result.layers == 2
    assert result.wrapper == "zlib+b64 exec shim -> lzma(raw)+b85 exec shim"


def test_nesting_deeper_than_three_fails_closed(tmp_path: Path) -> None:
    text = INNER
    for _ in range(4):
        text = raw_shim(text)
    with pytest.raises(Unanalyzable, match="nested more than 3 levels"):
        run(tmp_path, text)


def test_shim_using_python312_syntax(tmp_path: Path) -> None:
    text = 'label = f"{"nested quotes need 3.12"}"\n' + raw_shim(INNER)
    assert run(tmp_path, text).code == INNER


@pytest.mark.parametrize("expr", [
    'open(os.path.join(os.path.dirname(__file__), "impl.py")).read()',
    'Path(__file__).with_name("impl.py").read_text()',
    'open(__file__.replace("train_gpt.py", "impl.py")).read()',
    '(Path(__file__).resolve().parent / "impl.py").read_bytes()',
    'open("impl.py", "rb").read().decode()',
])
def test_sibling_exec(tmp_path: Path, expr: str) -> None:
    (tmp_path / "impl.py").write_text(INNER)
    result = run(tmp_path, f"import os\nfrom pathlib import Path\nexec({expr})\n")
    assert result.code == INNER
    assert result.siblings == ("impl.py",)
    assert result.wrapper == "exec of sibling impl.py"


def test_sibling_that_is_itself_a_shim(tmp_path: Path) -> None:
    (tmp_path / "impl.py").write_text(raw_shim(INNER))
    result = run(tmp_path, 'exec(open("impl.py").read())\n')
    assert result.code == INNER and result.siblings == ("impl.py",)
    assert result.wrapper == "exec of sibling impl.py -> lzma(raw)+b85 exec shim"


def test_missing_sibling(tmp_path: Path) -> None:
    with pytest.raises(Unanalyzable, match="execs missing sibling file impl.py"):
        run(tmp_path, 'import os\nexec(open(os.path.join(os.path.dirname(__file__), "impl.py")).read())\n')


LAUNCHER_WITH_OPEN = """import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("DATA_PATH", "./data")
print(f"launching from {HERE}")

with open(os.path.join(HERE, "impl.py"), encoding="utf-8") as fh:
    exec(fh.read())
"""
LAUNCHER_COMPILE = """import os
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
os.environ.setdefault("ITERATIONS", "20000")
os.environ["SEED"] = "7"

CORE = Path(__file__).resolve().with_name("impl.py")
if __name__ == "__main__":
    exec(compile(CORE.read_text(encoding="utf-8"), str(CORE), "exec"))
"""


@pytest.mark.parametrize("launcher", [LAUNCHER_WITH_OPEN, LAUNCHER_COMPILE])
def test_launcher_with_setup_calls(tmp_path: Path, launcher: str) -> None:
    (tmp_path / "impl.py").write_text(INNER)
    result = run(tmp_path, launcher)
    assert result.code == INNER and result.siblings == ("impl.py",)
    assert result.wrapper == "exec of sibling impl.py"


@pytest.mark.parametrize("launcher", [LAUNCHER_WITH_OPEN, LAUNCHER_COMPILE])
def test_launcher_with_missing_sibling(tmp_path: Path, launcher: str) -> None:
    with pytest.raises(Unanalyzable, match="^execs missing sibling file impl.py$"):
        run(tmp_path, launcher)


def test_launcher_env_is_reported(tmp_path: Path) -> None:
    (tmp_path / "impl.py").write_text(INNER)
    result = run(tmp_path, LAUNCHER_COMPILE)
    assert result.env_defaults == {"ITERATIONS": "20000"}
    assert result.env_overrides == {"SEED": "7"}


def test_with_open_parent_slash_one_liner(tmp_path: Path) -> None:
    (tmp_path / "impl.py").write_text(INNER)
    text = ("from pathlib import Path\nimport sys\nsys.path.append(str(Path(__file__).parent))\n"
            'with (Path(__file__).resolve().parent / "impl.py").open("rb") as f: exec(f.read())\n')
    assert run(tmp_path, text).code == INNER


@pytest.mark.parametrize("text", [
    'with open("impl.py", "w") as fh:\n    exec(fh.read())\n',  # a write mode truncates what it would run
    'with open("impl.py", encoding="cp1252") as fh:\n    exec(fh.read())\n',
])
def test_with_open_not_understood_fails_closed(tmp_path: Path, text: str) -> None:
    (tmp_path / "impl.py").write_text(INNER)
    with pytest.raises(Unanalyzable, match="could not decode the exec wrapper"):
        run(tmp_path, text)


@pytest.mark.parametrize("text", [
    # a top-level `with open(...)` that does ordinary work: the script is not a shim
    'import json\nwith open("config.json") as fh:\n    cfg = json.load(fh)\nexec(open("impl.py").read())\n',
    'import os\nwith open("train.log", "a") as log:\n    log.write("start\\n")\nexec(open("impl.py").read())\n',
    'with open("notes.txt") as fh:\n    notes = fh.read()\nexec(notes)\n',
    # setup calls whose arguments do work, or calls that are not setup
    'import os\nos.environ.setdefault("X", open("impl.py").read())\nexec(open("impl.py").read())\n',
    'import os\nos.system("make")\nexec(open("impl.py").read())\n',
    'import torch\ntorch.manual_seed(0)\nexec(open("impl.py").read())\n',
])
def test_with_open_or_call_that_is_not_a_shim(tmp_path: Path, text: str) -> None:
    (tmp_path / "impl.py").write_text(INNER)
    result = run(tmp_path, text)
    assert result.code == text and result.wrapper is None and result.layers == 0


def test_file_outside_the_folder_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "secret.py").write_text("x = 1\n")
    folder = tmp_path / "rec"
    folder.mkdir()
    with pytest.raises(Unanalyzable, match="outside its folder"):
        run(folder, 'exec(open("../secret.py").read())\n')


def test_corrupted_payload(tmp_path: Path) -> None:
    payload = b85_raw(INNER)
    broken = payload[:40] + "!!!!!" + payload[45:]  # '!' is a valid b85 char: decodes, then lzma fails
    text = ("import lzma as L,base64 as B\n"
            f'exec(L.decompress(B.b85decode("{broken}"),format=L.FORMAT_RAW,filters=[{{"id":L.FILTER_LZMA2}}]))\n')
    with pytest.raises(Unanalyzable, match=r"could not decode the lzma\+b85 exec wrapper: .+"):
        run(tmp_path, text)


def test_bad_base85_character(tmp_path: Path) -> None:
    text = 'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("abc def")))\n'
    with pytest.raises(Unanalyzable, match=r"could not decode the lzma\+b85 exec wrapper: bad base85"):
        run(tmp_path, text)


def test_truncated_payload(tmp_path: Path) -> None:
    payload = base64.b64encode(zlib.compress(INNER.encode())[:-10]).decode()
    with pytest.raises(Unanalyzable, match=r"zlib\+b64 exec wrapper: .*truncated"):
        run(tmp_path, f'import zlib,base64\nexec(zlib.decompress(base64.b64decode("{payload}")))\n')


def test_payload_not_utf8(tmp_path: Path) -> None:
    payload = base64.b64encode(zlib.compress(b"x = '\xff\xfe'\n")).decode()
    with pytest.raises(Unanalyzable, match="not UTF-8"):
        run(tmp_path, f'import zlib,base64\nexec(zlib.decompress(base64.b64decode("{payload}")))\n')
    with pytest.raises(Unanalyzable, match="not utf-8 text"):
        run(tmp_path, f'import zlib,base64\nexec(zlib.decompress(base64.b64decode("{payload}")).decode())\n')


def test_decompression_bomb_is_capped(tmp_path: Path) -> None:
    payload = base64.b64encode(zlib.compress(b"#" * 5_000_000)).decode()
    with pytest.raises(Unanalyzable, match="over the 1000000-byte limit"):
        run(tmp_path, f'import zlib,base64\nexec(zlib.decompress(base64.b64decode("{payload}")))\n')


def test_unsupported_payload_source_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(Unanalyzable, match="^could not decode the exec wrapper: unsupported name urllib$"):
        run(tmp_path, 'import urllib\nexec(urllib.request.urlopen("http://x").read())\n')


def test_two_execs_fail_closed(tmp_path: Path) -> None:
    with pytest.raises(Unanalyzable, match="2 payloads"):
        run(tmp_path, 'exec("a = 1")\nexec("b = 2")\n')


@pytest.mark.parametrize("text", [
    INNER,
    "import os\n\ndef load(path):\n    exec(open(path).read())\n\nload('x.py')\n",
    "import lzma\ndef helper():\n    pass\nexec(lzma.decompress(b''))\n",  # a def: not a shim, left to the analyzer
    "exec(\n",  # syntax error: not raised here, the analyzer reports it
    "for i in range(2):\n    exec('x = 1')\n",
])
def test_not_a_shim_is_returned_unchanged(tmp_path: Path, text: str) -> None:
    result = run(tmp_path, text)
    assert result.code == text and result.wrapper is None and result.layers == 0


# ---------------------------------------------------------------------------------------------- decode_source


def test_decode_source_cookie_bom_and_errors() -> None:
    latin = "# -*- coding: latin-1 -*-\nname = 'café'\n"
    assert decode_source(latin.encode("latin-1")) == latin
    assert decode_source(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"
    with pytest.raises(Unanalyzable, match=r"^not UTF-8 text: invalid continuation byte at byte offset 11$"):
        decode_source(b"x = 1\ny = '\xe9'\n")
    with pytest.raises(Unanalyzable, match="^empty file$"):
        decode_source(b"  \n\t\n")
    with pytest.raises(Unanalyzable, match="^binary file, not Python source$"):
        decode_source(b"x = 1\x00\n")
    with pytest.raises(Unanalyzable, match="unknown encoding"):
        decode_source(b"# coding: no-such-codec\nx = 1\n")
    with pytest.raises(Unanalyzable, match="^sibling file a.py: empty file$"):
        decode_source(b"", what="sibling file a.py")


# ---------------------------------------------------------------------------------------------- imports


def test_imported_modules() -> None:
    code = ("import os, ngram_tilt as nt\nfrom helper.sub import f\nfrom . import local_mod\n\n"
            "def g():\n    import lazy\n")
    assert set(imported_modules(code)) == {"os", "ngram_tilt", "helper", "local_mod", "lazy"}


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="exercises the fallback for syntax newer than Python")
def test_imported_modules_line_scan_fallback() -> None:
    code = 'import os, tilt_mod as t\nfrom helper import f\nlabel = f"{"x"}"\n'
    assert imported_modules(code) == ["os", "tilt_mod", "helper"]
