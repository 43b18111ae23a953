#!/usr/bin/env python3
"""Turns the runnable blocks of a docs page into one bash script (tests/cli/docs-commands.bats).

The convention, for docs/getting-started.md, docs/configuration.md and docs/troubleshooting.md:
  ```sh / ```bash          run, in order, in one shell from the repository root; must succeed
  ```sh fails / ```bash fails
                           run in a subshell; its last command must fail, and the output must hold
                           each non-empty line of the ```text block right after it ("..." in a
                           line stands for any text)
  ```sh build              builds cubuild: only its lines that start with "cubuild" run (the test
                           uses the binary under test instead of building one)
  anything else            (```text, ```yaml, ```console, ...) is not run
"""
import re
import shlex
import sys


def blocks(lines):
    i = 0
    while i < len(lines):
        m = re.match(r"^```(?!`)(\S*)[ \t]*(.*)$", lines[i])
        if not m:
            i += 1
            continue
        start, lang, attrs = i + 1, m.group(1), m.group(2).split()
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        yield start, lang, attrs, lines[i + 1:j]
        i = j + 1


def main(path):
    found = list(blocks(open(path, encoding="utf-8").read().split("\n")))
    out = ["set -eo pipefail", 'CB_OUT=$(mktemp)', "trap 'rm -f \"$CB_OUT\"' EXIT"]
    n = 0
    for k, (line, lang, attrs, body) in enumerate(found):
        if lang not in ("sh", "bash"):
            continue
        n += 1
        where = shlex.quote(f"{path}:{line}")
        if "build" in attrs:
            body = [b for b in body if b.startswith("cubuild")]
        out.append(f"echo '--- running the block at '{where} >&2")
        if "fails" in attrs:
            if k + 1 >= len(found) or found[k + 1][1] != "text":
                sys.exit(f"{path}:{line}: a 'fails' block must be followed by a ```text block")
            out.append("if (")
            out += body
            out.append(f') >"$CB_OUT" 2>&1; then cat "$CB_OUT" >&2; echo "expected {where} to fail" >&2; exit 1; fi')
            out.append('cat "$CB_OUT" >&2')
            for want in found[k + 1][3]:
                for part in [p.strip() for p in want.split("...") if p.strip()]:
                    q = shlex.quote(part)
                    out.append(f'grep -qF -- {q} "$CB_OUT" || {{ echo "{where}: missing from the output: "{q} >&2; exit 1; }}')
        else:
            out += body
    if n == 0:
        sys.exit(f"{path}: no runnable block")
    out.append(f"echo '--- all {n} blocks of '{shlex.quote(path)}' ran' >&2")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
