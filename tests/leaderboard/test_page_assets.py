"""The leaderboard page's CSS and JavaScript, linted as files (``leaderboard/page/``): the CSS
parses with balanced blocks and no rule sets a property twice; the JavaScript parses as a
script, declares with const/let, compares strictly and reads no name it neither declares nor
takes from the browser. Each rule is also shown to catch what it names."""

from __future__ import annotations

from importlib import resources

import esprima
import pytest
import tinycss2

BROWSER_GLOBALS = {
    "document", "window", "location", "Array", "String", "NaN", "undefined", "isNaN", "parseFloat", "parseInt",
}  # fmt: skip


def css_problems(text: str) -> list[str]:
    problems = []
    if text.count("{") != text.count("}"):
        problems.append(f"unbalanced blocks: {text.count('{')} '{{' against {text.count('}')} '}}'")
    for rule in tinycss2.parse_stylesheet(text, skip_whitespace=True, skip_comments=True):
        if rule.type == "error":
            problems.append(f"line {rule.source_line}: {rule.message}")
            continue
        selector = tinycss2.serialize(rule.prelude).strip()
        seen = set()
        for declaration in tinycss2.parse_blocks_contents(rule.content, skip_whitespace=True, skip_comments=True):
            if declaration.type == "error":
                problems.append(f"line {declaration.source_line} ({selector}): {declaration.message}")
            elif declaration.type == "declaration":
                if declaration.lower_name in seen:
                    problems.append(f"line {declaration.source_line} ({selector}): {declaration.name} set twice")
                seen.add(declaration.lower_name)
    return problems


def _nodes(node, parent=None, key=None):
    """Every node with its parent and the field it sits in."""
    if isinstance(node, list):
        for item in node:
            yield from _nodes(item, parent, key)
    elif isinstance(node, dict) and "type" in node:
        yield node, parent, key
        for field, value in node.items():
            if isinstance(value, (dict, list)):
                yield from _nodes(value, node, field)


def js_problems(text: str) -> list[str]:
    try:
        tree = esprima.parseScript(text, {"loc": True}).toDict()
    except esprima.Error as error:
        return [f"does not parse: {error}"]
    problems, declared, read = [], set(BROWSER_GLOBALS), []
    for node, parent, key in _nodes(tree):
        line = node.get("loc", {}).get("start", {}).get("line")
        if node["type"] == "VariableDeclaration" and node["kind"] == "var":
            problems.append(f"line {line}: var (use const or let)")
        if node["type"] == "BinaryExpression" and node["operator"] in ("==", "!="):
            problems.append(f"line {line}: {node['operator']} (compare with === or !==)")
        if node["type"] in ("VariableDeclarator", "FunctionDeclaration") and node["id"]["type"] == "Identifier":
            declared.add(node["id"]["name"])
        if node["type"] in ("FunctionDeclaration", "ArrowFunctionExpression", "FunctionExpression"):
            declared.update(p["name"] for p in node["params"] if p["type"] == "Identifier")
        if node["type"] == "Identifier":
            is_property = parent is not None and parent["type"] == "MemberExpression" and key == "property"
            if not (is_property and not parent["computed"]) and key not in ("id", "params", "key"):
                read.append((node["name"], line))
    problems += [f"line {line}: {name} is never declared" for name, line in read if name not in declared]
    return problems


def _asset(name: str) -> str:
    return resources.files("lumamba_bench.leaderboard").joinpath("page", name).read_text(encoding="utf-8")


def test_the_page_stylesheet_is_clean():
    assert css_problems(_asset("board.css")) == []


def test_the_page_script_is_clean():
    assert js_problems(_asset("board.js")) == []


@pytest.mark.parametrize(
    "css, expected",
    [
        ("a{color:red", "unbalanced blocks"),
        ("a{color:red;color:blue}", "color set twice"),
        ("a{color red}", "line 1 (a)"),
    ],
)
def test_the_css_lint_catches_what_it_names(css, expected):
    assert any(expected in problem for problem in css_problems(css))


@pytest.mark.parametrize(
    "js, expected",
    [
        ("const x = ;", "does not parse"),
        ("var x = 1;", "var (use const or let)"),
        ("const x = 1; if (x == 2) {}", "== (compare with === or !==)"),
        ("const x = y + 1;", "y is never declared"),
    ],
)
def test_the_js_lint_catches_what_it_names(js, expected):
    assert any(expected in problem for problem in js_problems(js))
