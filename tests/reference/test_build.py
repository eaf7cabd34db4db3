"""The single-file generator: the checked-in train_gpt.py is current, and the module contract is enforced."""

from __future__ import annotations

import ast
import json

import pytest

from auditor.cli import main
from reference import build


def test_checked_in_train_gpt_is_generated_from_the_modules():
    assert build.OUTPUT.read_text(encoding="utf-8") == build.generate(), "run python -m reference.build"
    assert build.main(["--check"]) == 0


def test_generated_file_is_self_contained():
    tree = ast.parse(build.OUTPUT.read_text(encoding="utf-8"))
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(name.split(".")[0] == "reference" for name in imported)
    mains = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert len(mains) == 1 and tree.body[-1] is mains[0]


def test_generated_records_folder_passes_the_static_audit(tmp_path, capsys):
    report = tmp_path / "report.json"
    code = main([str(build.OUTPUT.parent), "--format", "json", "--write", f"json={report}"])
    (result,) = json.loads(report.read_text())["results"]
    assert (code, result["verdict"], result["findings"]) == (0, "clean", [])


@pytest.fixture
def package(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "PACKAGE_DIR", tmp_path)

    def write(**modules: str) -> None:
        for name, text in modules.items():
            (tmp_path / f"{name}.py").write_text(text, encoding="utf-8")

    return write


def test_modules_are_joined_in_dependency_order(package):
    package(train='"""Entry."""\n\nimport os\n\nfrom reference.b import g\n\nx = g()\n\nif __name__ == "__main__":\n'
                  "    print(x)\n",
            b='"""B."""\n\nimport os\nimport sys\n\nfrom reference.a import f\n\n\ndef g():\n    return f()\n',
            a='"""A."""\n\n\ndef f():\n    return 1\n')
    text = build.generate()
    assert text.index("# reference/a.py") < text.index("# reference/b.py") < text.index("# reference/train.py")
    assert text.count("import os") == 1 and "from reference." not in text
    namespace: dict = {"__name__": "generated"}
    exec(compile(text, "train_gpt.py", "exec"), namespace)
    assert namespace["x"] == 1


@pytest.mark.parametrize(("modules", "message"), [
    ({"train": "from reference.a import f\n", "a": "def f():\n    pass\n\n\nimport os\n"}, "import after"),
    ({"train": "from reference.a import f\n\n\ndef f():\n    pass\n", "a": "def f():\n    pass\n"}, "defined in both"),
    ({"train": "from reference.a import g\n", "a": "def f():\n    pass\n"}, "does not define"),
    ({"train": "from reference.a import f\n", "a": 'def f():\n    pass\n\n\nif __name__ == "__main__":\n    f()\n'},
     "__main__"),
    ({"train": "import reference.a\n", "a": ""}, "only via"),
    ({"train": "from reference.a import f as g\n", "a": "def f():\n    pass\n"}, "no `as`"),
])
def test_contract_violations_are_errors(package, modules, message):
    package(**modules)
    with pytest.raises(build.BuildError, match=message):
        build.generate()
