"""The README's Python snippets run as written, each as a script of its own (issue 23, first
hour), against a real node: only the node's address is changed, from localhost:8734 to the test
node's port. They run in a folder holding a copy of examples/, with the wallet the README's
shell step makes (`aonode wallet new examples/wallet.json`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aonode_process import Node, running
from console_helpers import ROOT

README = (ROOT / "README.md").read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
# What a snippet prints last, by the first phrase of this list it contains.
LAST_LINES = [
    ("wasm-64@1.0", "42"),
    ("lua@5.3a", "42"),
    ("test-device@1.0", "open http"),
    ("/greeting", "hi from a signed message"),
    ("examples/process.lua", ""),
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("readme") / "node") as started:
        yield started


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("readme-user")
    shutil.copytree(ROOT / "examples", where / "examples", ignore=shutil.ignore_patterns("node_modules", "wallet.json"))
    done = subprocess.run([sys.executable, "-m", "aonode.cli", "wallet", "new", "examples/wallet.json"], cwd=where,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return where


def test_the_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 5
    assert any("wasm-64@1.0" in s for s in SNIPPETS)  # a WASM example


# Runs each file as `python FILE` would (`runpy`, `__main__`), one after the other in one
# interpreter, so the test pays for starting Python and importing aonode once.
DRIVER = """
import runpy, sys, traceback
for path in sys.argv[1:]:
    print("=== start " + path, flush=True)
    try:
        runpy.run_path(path, run_name="__main__")
    except BaseException:
        traceback.print_exc(file=sys.stdout)
        print("=== failed", flush=True)
    print("=== end " + path, flush=True)
"""


@pytest.fixture(scope="module")
def outputs(node: Node, folder: Path) -> dict[int, str]:
    names = []
    for number, snippet in enumerate(SNIPPETS):
        script = folder / f"snippet_{number}.py"
        script.write_text(snippet.replace("http://localhost:8734", node.url))
        names.append(script.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HB_", "AONODE_"))}
    done = subprocess.run([sys.executable, "-c", DRIVER, *names], cwd=folder, capture_output=True, text=True,
                          timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr
    found = {}
    for number, name in enumerate(names):
        start, end = f"=== start {name}\n", f"=== end {name}\n"
        assert start in done.stdout and end in done.stdout, done.stdout + done.stderr
        found[number] = done.stdout.split(start, 1)[1].split(end, 1)[0]
    return found


@pytest.mark.parametrize("number", range(len(SNIPPETS)))
def test_a_readme_snippet_runs_as_a_script(outputs: dict[int, str], number: int) -> None:
    said = outputs[number]
    assert "=== failed" not in said, f"README snippet {number} failed:\n{SNIPPETS[number]}\n{said}"
    printed = said.strip().splitlines()
    assert printed, "a snippet shows what it did"
    phrase, last = next(((p, v) for p, v in LAST_LINES if p in SNIPPETS[number]), ("", ""))
    assert phrase, f"snippet {number} has no expected output in this test: add it to LAST_LINES"
    assert printed[-1].startswith(last), printed
