"""Every ```python block of README.md runs, each in its own interpreter.

A snippet passes when its process exits 0 within the timeout; one that raises
fails the test with its stderr.  HTML comments next to a block (invisible on
the rendered page) make fragments runnable:

``<!-- readme-test: setup`` + code + ``-->`` just before the block
    code run first, in the same process (imports, the functions a fragment
    calls).
``<!-- readme-test: check`` + code + ``-->`` just after the block
    code run after it, in the same process (asserts on what it did).
``<!-- readme-test: client`` + code + ``-->`` just after the block
    the block is a server that runs until killed: it is started, the client
    code runs in another process against it and must exit 0, and the server
    must still be running then (it did not raise).
``<!-- readme-test: skip (reason) -->`` just before the block
    not run; the reason is required and shown as the skip reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
TIMEOUT = 30  # seconds, per snippet
KINDS_BEFORE = ("setup", "skip")
KINDS_AFTER = ("check", "client")


@dataclass
class Snippet:
    line: int                                   # of the opening fence, 1-based
    code: str
    directives: dict = field(default_factory=dict)  # kind -> text

    @property
    def id(self) -> str:
        return f"README.md:{self.line}"


_COMMENT = re.compile(r"<!--\s*readme-test:\s*(\w+)(.*?)-->", re.S)


def _comment_ending_at(lines: list[str], i: int) -> tuple[str, str] | None:
    """The readme-test comment whose last line is at or above ``i`` (blank lines skipped)."""
    while i >= 0 and not lines[i].strip():
        i -= 1
    if i < 0 or not lines[i].rstrip().endswith("-->"):
        return None
    j = i
    while j >= 0 and "<!--" not in lines[j]:
        j -= 1
    m = _COMMENT.fullmatch("\n".join(lines[j:i + 1]).strip())
    return (m.group(1), m.group(2)) if m else None


def _comment_starting_at(lines: list[str], i: int) -> tuple[str, str] | None:
    """The readme-test comment whose first line is at or below ``i`` (blank lines skipped)."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not lines[i].lstrip().startswith("<!--"):
        return None
    j = i
    while j < len(lines) and "-->" not in lines[j]:
        j += 1
    m = _COMMENT.fullmatch("\n".join(lines[i:j + 1]).strip())
    return (m.group(1), m.group(2)) if m else None


def parse(text: str) -> list[Snippet]:
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"(\s*)(`{3,})\s*(\S*).*", lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks, lang = fence.groups()
        end = i + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        if lang in ("python", "py", "python3"):
            code = textwrap.dedent("\n".join(l[len(indent):] if l.startswith(indent) else l
                                             for l in lines[i + 1:end]))
            snip = Snippet(i + 1, code + "\n")
            before = _comment_ending_at(lines, i - 1)
            after = _comment_starting_at(lines, end + 1)
            for found, allowed in ((before, KINDS_BEFORE), (after, KINDS_AFTER)):
                if found is None:
                    continue
                kind, body = found
                if kind not in allowed:
                    raise ValueError(f"{snip.id}: readme-test {kind!r} is not allowed "
                                     f"there (use one of {allowed})")
                snip.directives[kind] = textwrap.dedent(body.strip("\n"))
            out.append(snip)
        i = end + 1
    return out


SNIPPETS = parse(README.read_text(encoding="utf-8"))


def _env() -> dict:
    env = dict(os.environ)
    env.pop("DILL_BLOCKING_DETECTOR", None)  # a slow CI box must not add noise to stderr
    return env


def run_snippet(snip: Snippet, tmp_path: Path) -> None:
    """Run one snippet as the module docstring says; fail the test if it fails."""
    d = snip.directives
    if "skip" in d:
        reason = re.fullmatch(r"\s*\((.+)\)\s*", d["skip"], re.S)
        assert reason, f"{snip.id}: a skipped snippet must say why: skip (reason)"
        pytest.skip(f"{snip.id}: {reason.group(1).strip()}")
    parts = [d.get("setup", ""), snip.code, d.get("check", "")]
    script = tmp_path / f"readme_{snip.line}.py"
    script.write_text("\n".join(p for p in parts if p.strip()), encoding="utf-8")
    if "client" not in d:
        try:
            r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                               capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"{snip.id}: still running after {TIMEOUT} s\n{e.stderr}")
        assert r.returncode == 0, f"{snip.id} failed (exit {r.returncode}):\n{r.stderr}"
        return
    client = tmp_path / f"readme_{snip.line}_client.py"
    client.write_text(d["client"], encoding="utf-8")
    server = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        r = subprocess.run([sys.executable, str(client)], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=TIMEOUT)
        alive = server.poll() is None
    finally:
        server.kill()
        _, server_err = server.communicate(timeout=TIMEOUT)
    assert alive, f"{snip.id}: the server exited ({server.returncode}):\n{server_err}"
    assert r.returncode == 0, (f"{snip.id}: its client failed:\n{r.stderr}\n"
                               f"server's stderr:\n{server_err}")


@pytest.mark.timeout(2 * TIMEOUT + 10)
@pytest.mark.parametrize("snip", SNIPPETS, ids=[s.id for s in SNIPPETS])
def test_readme_snippet(snip, tmp_path):
    run_snippet(snip, tmp_path)


def test_the_readme_has_snippets_and_all_run():
    assert len(SNIPPETS) >= 3, "no ```python blocks found: is the parser broken?"
    skipped = [s.id for s in SNIPPETS if "skip" in s.directives]
    assert len(skipped) < len(SNIPPETS)


# ------------------------------------------------------------ the runner itself


def test_a_raising_snippet_fails(tmp_path):
    snip = parse("```python\nraise ValueError('boom')\n```\n")[0]
    with pytest.raises(AssertionError, match="ValueError: boom"):
        run_snippet(snip, tmp_path)


def test_setup_check_and_client_directives(tmp_path):
    text = textwrap.dedent("""\
        <!-- readme-test: setup
        x = 1
        -->
        ```python
        y = x + 1
        ```
        <!-- readme-test: check
        assert y == 3, y
        -->
        """)
    (snip,) = parse(text)
    assert snip.directives == {"setup": "x = 1", "check": "assert y == 3, y"}
    with pytest.raises(AssertionError, match="assert y == 3"):
        run_snippet(snip, tmp_path)
    # a server that dies before its client is done fails, even if the client passes
    (snip,) = parse("```python\nimport time; time.sleep(0.1); raise SystemExit(3)\n```\n"
                    "<!-- readme-test: client\nimport time; time.sleep(1)\n-->\n")
    with pytest.raises(AssertionError, match="server exited"):
        run_snippet(snip, tmp_path)


def test_skip_needs_a_reason(tmp_path):
    (snip,) = parse("<!-- readme-test: skip -->\n```python\npass\n```\n")
    with pytest.raises(AssertionError, match="must say why"):
        run_snippet(snip, tmp_path)
    (snip,) = parse("<!-- readme-test: skip (needs a GPU) -->\n```python\npass\n```\n")
    with pytest.raises(pytest.skip.Exception, match="needs a GPU"):
        run_snippet(snip, tmp_path)
    with pytest.raises(ValueError, match="not allowed"):
        parse("```python\npass\n```\n<!-- readme-test: setup\nx = 1\n-->\n")
