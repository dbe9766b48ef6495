"""README's Python code blocks run as written, in order, in one namespace (so that they can't rot).

Each fenced ``python`` block may use names that an earlier block defined (README says so where a block
continues another). The blocks run in a fresh interpreter whose working folder is a temporary one, so the
files they write (``ae.keras``, ``exported/``) land there; the interpreter inherits the test run's
environment (``KERASAE_JIT_COMPILE=0`` from conftest, so that no step waits for XLA).
"""

import json
import os
import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
#: Seconds the whole README may take (a few epochs on digits each; ~40 s on a 2-core CPU).
TIMEOUT = 240

#: Runs the blocks given as a JSON list on stdin; on the first failure prints a marker line naming the block.
RUNNER = r"""
import json, sys, traceback
blocks = json.load(sys.stdin)
namespace = {"__name__": "__main__"}
for number, (line, source) in enumerate(blocks, 1):
    try:
        # padded with blank lines, so that a traceback's line numbers are README.md's own
        exec(compile("\n" * (line - 1) + source, "README.md", "exec"), namespace)
    except BaseException:
        print(f"@@README-FAILED {number} {line}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    print(f"@@README-OK {number}", file=sys.stderr, flush=True)
"""


def python_blocks(text):
    """``(line, source)`` of every fenced ```` ```python ```` block, in order (line: of the block's first code line)."""
    blocks = []
    for match in re.finditer(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, flags=re.M | re.S):
        line = text.count("\n", 0, match.start(1)) + 1
        blocks.append((line, match.group(1)))
    return blocks


def test_readme_has_python_blocks():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 4, f"found only {len(blocks)} python blocks in README.md"
    for line, source in blocks:
        compile(source, f"README.md line {line}", "exec")  # a syntax error names its line


def test_readme_python_blocks_run(tmp_path):
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env.setdefault("KERASAE_JIT_COMPILE", "0")
    # the installed package, or the checkout this test file belongs to
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(README.parent), env.get("PYTHONPATH")]))
    try:
        result = subprocess.run(
            [sys.executable, "-c", RUNNER],
            input=json.dumps(blocks),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else error.stderr or ""
        done = re.findall(r"@@README-OK (\d+)", stderr)  # TimeoutExpired holds bytes despite text=True
        raise AssertionError(
            f"README's python blocks took over {TIMEOUT} s (blocks done: {done or 'none'}, of {len(blocks)})"
        ) from None
    failed = re.search(r"@@README-FAILED (\d+) (\d+)", result.stderr)
    if failed or result.returncode != 0:
        where = (
            f"block {failed.group(1)} of {len(blocks)} (README.md line {failed.group(2)})"
            if failed
            else f"the interpreter (exit status {result.returncode})"
        )
        error_lines = result.stderr[failed.end():] if failed else result.stderr
        tail = "\n".join(error_lines.strip().splitlines()[-25:])
        raise AssertionError(f"README.md's python {where} failed:\n{tail}")
    assert len(re.findall(r"@@README-OK \d+", result.stderr)) == len(blocks)
