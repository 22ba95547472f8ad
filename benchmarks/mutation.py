"""Mutation check: does the test suite notice small, realistic bugs in the core modules?

For each module below, every comparison, arithmetic operator, boolean/number constant and
unary minus is a candidate site; a deterministic sample of sites is mutated one at a time
(``<`` -> ``<=``, ``+`` -> ``-``, ``0.05`` -> ``0.06``, ``True`` -> ``False``, ``-x`` -> ``x``, ...) and
the module's own tests run against the mutant. A mutant the tests do not fail on "survives".

    python benchmarks/mutation.py                 # every module, up to 20 sites each
    python benchmarks/mutation.py --module scan --sites 40

The source file is rewritten in place for each run and always restored (also on Ctrl-C); run it
on a clean work tree. Not part of CI: a full run takes tens of minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import ast
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> (source file, the tests that pin it)
TARGETS: dict[str, tuple[str, list[str]]] = {
    "scan": ("lumamba_bench/models/scan.py", ["tests/models/test_scan.py"]),
    "normalisation": ("lumamba_bench/models/normalisation.py", ["tests/models/test_conformance.py"]),
    "luna": ("lumamba_bench/models/luna.py", ["tests/models/test_conformance.py", "tests/models/test_lumamba.py"]),
    "reconstruction": ("lumamba_bench/objectives/reconstruction.py", ["tests/objectives"]),
    "lejepa": ("lumamba_bench/objectives/lejepa.py", ["tests/objectives"]),
    "metrics": ("lumamba_bench/harness/metrics.py", ["tests/harness/test_metrics.py"]),
    "edf": ("lumamba_bench/data/edf.py", ["tests/data/test_edf.py"]),
    "preprocess": ("lumamba_bench/data/preprocess.py", ["tests/data/test_preprocess.py"]),
    "channels": ("lumamba_bench/data/channels.py", ["tests/data/test_channels.py"]),
    "splits": ("recipes/splits.py", ["tests/recipes/test_splits.py"]),
    "submission": ("lumamba_bench/leaderboard/submission.py", ["tests/leaderboard/test_leaderboard.py"]),
    "results": ("lumamba_bench/harness/results.py", ["tests/leaderboard/test_leaderboard.py"]),
}

_SWAP_COMPARE = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq
}  # fmt: skip
_SWAP_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult}


@dataclass
class Mutant:
    line: int
    description: str
    source: str


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    """(node, kind) of every mutable place, skipping docstrings, annotations and type hints."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))
        if isinstance(node, ast.arg | ast.AnnAssign) and getattr(node, "annotation", None) is not None:
            skip.update(id(n) for n in ast.walk(node.annotation))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            skip.update(id(n) for n in ast.walk(node.returns))
    sites = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _SWAP_COMPARE:
            sites.append((node, "compare"))
        elif isinstance(node, ast.BinOp) and type(node.op) in _SWAP_BINOP:
            sites.append((node, "binop"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sites.append((node, "negate"))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool) and node.value is not None:
            sites.append((node, "constant"))
    return sites


def _mutate(node: ast.AST, kind: str) -> str:
    """Change ``node`` in place; returns what changed."""
    if kind == "compare":
        old = type(node.ops[0])
        node.ops[0] = _SWAP_COMPARE[old]()
        return f"{old.__name__} -> {type(node.ops[0]).__name__}"
    if kind == "binop":
        old = type(node.op)
        node.op = _SWAP_BINOP[old]()
        return f"{old.__name__} -> {type(node.op).__name__}"
    if kind == "negate":
        node.op = ast.UAdd()
        return "-x -> +x"
    value = node.value
    if isinstance(value, bool):
        node.value = not value
    elif isinstance(value, int):
        node.value = value + 1
    else:
        node.value = value * 1.2 if value else 0.1
    return f"{value!r} -> {node.value!r}"


def mutants(path: Path, limit: int, seed: int = 0) -> list[Mutant]:
    text = path.read_text()
    count = len(_sites(ast.parse(text)))
    chosen = sorted(random.Random(f"{path.name}:{seed}").sample(range(count), min(limit, count)))
    out = []
    for index in chosen:
        tree = ast.parse(text)
        node, kind = _sites(tree)[index]
        description = _mutate(node, kind)
        out.append(Mutant(node.lineno, f"{kind}: {description}", ast.unparse(tree)))
    return out


def killed(tests: list[str], timeout: float) -> bool:
    """The tests fail (or hang) on the mutant."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return True
    return result.returncode != 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", choices=sorted(TARGETS), help="default: all")
    parser.add_argument("--sites", type=int, default=20, help="mutants per module (a seeded sample)")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    total = survived_total = 0
    survivors: list[str] = []
    for name in args.module or sorted(TARGETS):
        source, tests = TARGETS[name]
        path = ROOT / source
        original = path.read_text()
        if killed(tests, args.timeout):
            raise SystemExit(f"{name}: the tests fail on the unmutated code; fix that first")
        started, survived = time.perf_counter(), 0
        candidates = mutants(path, args.sites)
        try:
            for mutant in candidates:
                path.write_text(mutant.source)
                if not killed(tests, args.timeout):
                    survived += 1
                    survivors.append(f"{source}:{mutant.line} {mutant.description}")
        finally:
            path.write_text(original)
        total += len(candidates)
        survived_total += survived
        score = 1 - survived / max(1, len(candidates))
        print(f"{name:15s} {len(candidates) - survived:3d}/{len(candidates):3d} killed ({score:.0%}) "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"mutation score: {total - survived_total}/{total} killed ({1 - survived_total / max(1, total):.0%})")
    for line in survivors:
        print(f"  survived {line}")


if __name__ == "__main__":
    main()
