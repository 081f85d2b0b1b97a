"""`RULES_VERSION` names the code of the rules in `webapp/attribution.py`: a run carried over
and a summary kept are reused only under the version they were computed by, so a change of
the rules that leaves the version as it was would reuse stale results. This test fails on
such a change and says what to do."""

import ast
import hashlib
from pathlib import Path

from webapp import attribution
from webapp.attribution import RULES_VERSION

#: Where the rules begin in webapp/attribution.py: every function and class from here on.
RULES_BEGIN = "# ---- The calculation, step by step"

#: Each version of the rules, with the digest of their code (`rules_digest`). Add a row for
#: each new version; never change a row.
KNOWN = {
    "2026-11-25": "d9fbf4ed39b9faeee6ebaa8201a2ff09251de47c5c7608a8be57b69ebe59a0e5",
}


def _without_docstrings(node: ast.AST) -> ast.AST:
    for child in ast.walk(node):
        body = getattr(child, "body", None)
        if (
            isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            child.body = body[1:] or [ast.Pass()]
    return node


def rules_digest() -> str:
    """sha256 of the rules' code: the functions and classes after `RULES_BEGIN`, as parsed
    (comments, docstrings and layout left out, so only a change of what runs counts)."""
    source = Path(attribution.__file__).read_text(encoding="utf-8")
    begin = source.index(RULES_BEGIN)
    first_line = source[:begin].count("\n") + 1
    tree = ast.parse(source)
    rules = [
        ast.unparse(_without_docstrings(node))
        for node in tree.body
        if node.lineno > first_line
        and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    assert rules, f"no rule found after {RULES_BEGIN!r} in webapp/attribution.py"
    return hashlib.sha256("\n".join(rules).encode()).hexdigest()


def test_the_rules_version_names_the_code_of_the_rules():
    digest = rules_digest()
    assert KNOWN.get(RULES_VERSION) == digest, (
        f"The rules in webapp/attribution.py are not the code of RULES_VERSION "
        f"{RULES_VERSION!r} (their digest is now {digest}). If the rules compute anything "
        f"differently, bump RULES_VERSION in webapp/attribution.py and add the row "
        f'"<new version>": "{digest}" to KNOWN in tests/test_rules_version.py; '
        f"if nothing they compute changed, undo the change."
    )


def test_each_version_is_the_latest_and_names_one_code():
    assert max(KNOWN) == RULES_VERSION, "RULES_VERSION is the latest row of KNOWN"
    assert len(set(KNOWN.values())) == len(KNOWN), "two versions name the same code"
