"""Join the reference modules into the single `train_gpt.py` a submission must be (the file audited and counted).

    python -m reference.build            # write reference/records/<RECORD_NAME>/train_gpt.py
    python -m reference.build --check    # exit 1 when the checked-in file is out of date (tests run this)

Contract for the modules (reference/*.py, shared with the kernels): imports at the top (stdlib, torch, triton,
numpy, sentencepiece; a `try:` block of imports counts), other reference modules only through plain
`from reference.<mod> import <names>` lines, which are dropped here; module-level names unique across modules;
an `if __name__ == "__main__":` block only in the entry module (`train`). Modules are emitted in dependency order,
each under a banner made of its docstring; the imports are merged at the top of the file.
"""

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ENTRY = "train"
RECORD_NAME = "reference_trainer"
OUTPUT = PACKAGE_DIR / "records" / RECORD_NAME / "train_gpt.py"
RULE = "# " + "=" * 118


class BuildError(Exception):
    """A module breaks the single-file contract."""


@dataclass(frozen=True)
class ModuleParts:
    name: str
    doc: str
    imports: tuple[ast.stmt, ...]  # stdlib / third-party imports and import-only try blocks
    deps: tuple[tuple[str, tuple[str, ...]], ...]  # (reference module, names) from `from reference.X import ...`
    body: str  # source after the import block
    defined: frozenset[str]


def _is_import(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    return isinstance(node, ast.Try) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in node.body)


def _defined_names(tree: ast.Module) -> frozenset[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return frozenset(names)


def read_module(name: str) -> ModuleParts:
    path = PACKAGE_DIR / f"{name}.py"
    if not path.is_file():
        raise BuildError(f"reference/{name}.py does not exist")
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    nodes = list(tree.body)
    doc = ast.get_docstring(tree) or ""
    if doc:
        nodes = nodes[1:]
    imports, deps, end = [], [], nodes[0].lineno - 1 if nodes else 0
    while nodes and _is_import(nodes[0]):
        node = nodes.pop(0)
        end = node.end_lineno or end
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reference."):
            if node.level or node.module.count(".") != 1:
                raise BuildError(f"reference/{name}.py:{node.lineno}: import reference modules as reference.<mod>")
            deps.append((node.module.split(".")[1], tuple(a.name for a in node.names if a.asname is None)))
            if any(a.asname for a in node.names):
                raise BuildError(f"reference/{name}.py:{node.lineno}: no `as` in reference imports")
        elif any(isinstance(n, (ast.Import, ast.ImportFrom)) and _mentions_reference(n) for n in ast.walk(node)):
            raise BuildError(f"reference/{name}.py:{node.lineno}: reference modules only via `from reference.X import`")
        else:
            imports.append(node)
    for node in nodes:
        if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(node)) and node.col_offset == 0 \
                and _is_import(node):
            raise BuildError(f"reference/{name}.py:{node.lineno}: module-level import after the code starts")
        if name != ENTRY and _is_main_guard(node):
            raise BuildError(f"reference/{name}.py:{node.lineno}: `__main__` block outside the entry module")
    body = "\n".join(source.splitlines()[end:]).strip("\n")
    return ModuleParts(name, doc, tuple(imports), tuple(deps), body, _defined_names(tree))


def _mentions_reference(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "reference"
    return any(a.name.split(".")[0] == "reference" for a in node.names)


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)


def ordered_modules(entry: str = ENTRY) -> list[ModuleParts]:
    """The entry module and everything it imports from reference/, dependencies first."""
    done: dict[str, ModuleParts] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise BuildError(f"import cycle through reference/{name}.py")
        visiting.add(name)
        parts = read_module(name)
        for dep, names in parts.deps:
            visit(dep)
            missing = [n for n in names if n not in done[dep].defined]
            if missing:
                raise BuildError(f"reference/{name}.py imports {missing[0]!r}, "
                                 f"which reference/{dep}.py does not define")
        visiting.discard(name)
        done[name] = parts

    visit(entry)
    owners: dict[str, str] = {}
    for parts in done.values():
        for defined in sorted(parts.defined):
            if defined in owners:
                raise BuildError(f"{defined!r} is defined in both reference/{owners[defined]}.py and "
                                 f"reference/{parts.name}.py")
            owners[defined] = parts.name
    return list(done.values())


def merged_imports(modules: list[ModuleParts]) -> str:
    """One import block: stdlib first, then third-party, `from X import` names merged per module."""
    plain: dict[str, None] = {}
    froms: dict[str, dict[str, None]] = {}
    blocks: dict[str, None] = {}
    for parts in modules:
        for node in parts.imports:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    plain[ast.unparse(ast.Import(names=[alias]))] = None
            elif isinstance(node, ast.ImportFrom):
                names = froms.setdefault(node.module or "", {})
                for alias in node.names:
                    names[alias.name + (f" as {alias.asname}" if alias.asname else "")] = None
            else:
                blocks[ast.unparse(node)] = None

    def top(line: str) -> str:
        return line.split()[1].split(".")[0]

    lines = list(plain) + [f"from {mod} import {', '.join(names)}" for mod, names in froms.items()]
    stdlib = [line for line in lines if top(line) in sys.stdlib_module_names]
    other = [line for line in lines if top(line) not in sys.stdlib_module_names]
    def key(line: str) -> tuple[bool, str]:
        return line.startswith("from"), line

    groups = ["\n".join(sorted(stdlib, key=key)), "\n".join(sorted(other, key=key)), "\n\n".join(blocks)]
    return "\n\n".join(g for g in groups if g)


def banner(parts: ModuleParts) -> str:
    lines = [RULE, f"# reference/{parts.name}.py"]
    lines += [f"# {line}".rstrip() for line in parts.doc.splitlines()]
    return "\n".join(lines + [RULE])


def generate(entry: str = ENTRY) -> str:
    modules = ordered_modules(entry)
    title = (modules[-1].doc.splitlines() or [""])[0]
    names = ", ".join(m.name for m in modules)
    note = "Generated by `python -m reference.build` from these modules of reference/ (edit them and rebuild):"
    head = f'"""{title}\n\n{note}\n{names}.\n"""'
    sections = [head, merged_imports(modules).strip("\n")]
    sections += [banner(m) + "\n\n" + m.body for m in modules]
    return "\n\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference.build", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in file is out of date")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    try:
        text = generate()
    except BuildError as exc:
        print(f"reference.build: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != text:
            print(f"reference.build: {args.out} is out of date; run python -m reference.build", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
