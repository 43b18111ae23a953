#!/usr/bin/env python3
"""The shell commands of docs/*.md and README.md, for the tests that run them.

  docs-commands.py PAGE             prints PAGE's runnable blocks as one bash script (run_page in
                                    tests/cli/docs-commands.bash runs it)
  docs-commands.py --block PAGE ID  prints the body of PAGE's block marked `mirrored ID`
  docs-commands.py --check          the drift guard: fails when a page has a shell block that no
                                    test runs, mirrors or lists as skipped with a reason

The convention, for every page. A fenced block's info string is LANG [ATTR...]:
  ```sh / ```bash          run, in order, in one shell from the repository root; must succeed
  ```sh fails / ```bash fails
                           run in a subshell; its last command must fail, and the output must hold
                           each non-empty line of the ```text block right after it ("..." or "…"
                           in a line stands for any text)
  ```sh build              builds cubuild: only its lines that start with "cubuild" run (the test
                           uses the binary under test instead of building one)
  ```console               a transcript: each "$ " line (with its "\\"-continued lines) is a command
                           run in the page's shell as an interactive shell runs it (no pipefail)
                           and must succeed; the lines after it, up to the
                           next "$ ", must be in its output ("..." or "…" stand for any text);
                           with `fails`, the block's last command must fail instead
  ```sh mirrored ID        not extracted: a bats file runs its lines one to one (it reads them with
                           --block PAGE ID and fails when a line has no counterpart)
  ```sh skip: REASON       not run, for the reason given (a GPU, a network this machine lacks)
  ```sh run-by: FILE       run as written by that bats file (which names the page)
  ```yaml github-actions / ```yaml gitlab-ci / ```yaml k8s-job
                           a CI file or a Kubernetes Job whose commands a stand-in runs
                           (tests/cli/docs-commands-standin.py)
  anything else            (```text, ```yaml, ```json, ...) is not run; a block without a language,
                           a text block holding a "$ " line or (but the output after a `fails`
                           block) a line starting "cubuild ", and an
                           indented code block are errors of the drift guard (label them)
The drift guard also checks every inline `cubuild ...` span of the pages (but cli.md), and every
cubuild line of a mirrored or skipped block: each option
it names must be one docs/cli.md (generated from the same table as --help) lists for that command;
and each row of docs/docker-compat.md's table must name test files that use the row's flag.
"""
import glob
import os
import re
import shlex
import sys

SHELL = ("sh", "bash", "console")
STANDIN_TAGS = ("github-actions", "gitlab-ci", "k8s-job")
# the pages whose runnable blocks a test runs (run_page PAGE in that file), and the pages whose
# stand-in blocks a test runs (docs-commands-standin.py with that page)
RUN_BY = {
    "docs/getting-started.md": "tests/cli/docs-commands-pages.heavy.bats",
    "docs/configuration.md": "tests/cli/docs-commands-pages.heavy.bats",
    "docs/troubleshooting.md": "tests/cli/docs-commands.bats",
    "docs/audit.md": "tests/cli/docs-commands-pages.heavy.bats",
    "docs/compat.md": "tests/cli/docs-commands-pages.heavy.bats",
    "docs/bake.md": "tests/cli/docs-commands.bats",
}
STANDIN_BY = {
    "docs/ci.md": "tests/cli/docs-commands.bats",
    "docs/kubernetes.md": "tests/cli/docs-commands.bats",
}
# yaml keys whose values are shell commands
YAML_COMMAND_KEYS = re.compile(r"^\s*(-\s+)?(run|script|before_script|after_script|command):")


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


def read(path):
    return open(path, encoding="utf-8").read().split("\n")


def not_run(attrs):
    return "mirrored" in attrs or (attrs and attrs[0] in ("skip:", "run-by:"))


def want_greps(lines, where):
    out = []
    for want in lines:
        for part in [p.strip() for p in re.split(r"\.\.\.|…", want) if p.strip()]:
            q = shlex.quote(part)
            out.append(f'grep -qF -- {q} "$CB_OUT" || {{ echo "{where}: missing from the output: "{q} >&2; exit 1; }}')
    return out


def console(body, where, fails):
    """A console transcript: [(command lines, expected output lines)]."""
    cmds = []
    for b in body:
        if b.startswith("$ ") or b == "$":
            cmds.append(([b[2:]], []))
        elif cmds and cmds[-1][0][-1].endswith("\\") and not cmds[-1][1]:
            cmds[-1][0].append(b)
        elif cmds:
            cmds[-1][1].append(b)
        elif b.strip():
            sys.exit(f"{where}: a console block must start with a '$ ' line")
    out = []
    for n, (cmd, want) in enumerate(cmds):
        last = n == len(cmds) - 1
        out.append(f"echo '$ '{shlex.quote(cmd[0])} >&2")
        # as an interactive shell runs it: no pipefail (`cubuild diff ... | jq` exits 1 when the images
        # differ), the status is the last command's
        out.append("set +o pipefail")
        if fails and last:
            out.append("if {")
            out += cmd
            out.append(f'}} >"$CB_OUT" 2>&1; then cat "$CB_OUT" >&2; echo "expected the last command of {where} to fail" >&2; exit 1; fi')
        else:
            out.append("{")
            out += cmd
            out.append(f'}} >"$CB_OUT" 2>&1 || {{ r=$?; cat "$CB_OUT" >&2; echo "{where}: the command failed with status $r" >&2; exit 1; }}')
        out.append("set -o pipefail")
        out.append('cat "$CB_OUT" >&2')
        out += want_greps(want, where)
    return out


def script(path):
    found = list(blocks(read(path)))
    out = ["set -eo pipefail", 'CB_OUT=$(mktemp)', "trap 'rm -f \"$CB_OUT\"' EXIT"]
    n = 0
    for k, (line, lang, attrs, body) in enumerate(found):
        if lang not in SHELL or not_run(attrs):
            continue
        n += 1
        where = shlex.quote(f"{path}:{line}")
        out.append(f"echo '--- running the block at '{where} >&2")
        if lang == "console":
            out += console(body, f"{path}:{line}", "fails" in attrs)
            continue
        if "build" in attrs:
            body = [b for b in body if b.startswith("cubuild")]
        if "fails" in attrs:
            if k + 1 >= len(found) or found[k + 1][1] != "text":
                sys.exit(f"{path}:{line}: a 'fails' block must be followed by a ```text block")
            out.append("if (")
            out += body
            out.append(f') >"$CB_OUT" 2>&1; then cat "$CB_OUT" >&2; echo "expected {where} to fail" >&2; exit 1; fi')
            out.append('cat "$CB_OUT" >&2')
            out += want_greps(found[k + 1][3], where)
        else:
            out += body
    if n == 0:
        sys.exit(f"{path}: no runnable block")
    out.append(f"echo '--- all {n} blocks of '{shlex.quote(path)}' ran' >&2")
    return "\n".join(out)


def block(path, ident):
    for _, lang, attrs, body in blocks(read(path)):
        if "mirrored" in attrs and attrs[attrs.index("mirrored") + 1:][:1] == [ident]:
            return "\n".join(body)
    sys.exit(f"{path}: no block marked 'mirrored {ident}'")


def pages(root):
    return sorted(glob.glob(os.path.join(root, "docs", "*.md"))) + [os.path.join(root, "README.md")]


def cli_options(root):
    """{command: set of its options} from the generated docs/cli.md ("" holds the global ones)."""
    opts, cmd = {"": set()}, ""
    for line in read(os.path.join(root, "docs", "cli.md")):
        m = re.match(r"^## (\S+)$", line)
        if m:
            cmd = m.group(1)
            opts[cmd] = set()
        elif line.startswith("| `"):
            first = line.split(" | ")[0]
            opts[cmd] |= {o.split("=")[0] for o in re.findall(r"`(--?[\w-]+)", first)}
    return opts


def option_problems(where, text, opts):
    """The options of one cubuild command line (or synopsis) that docs/cli.md does not list."""
    problems = []
    for seg in re.split(r"\s(?:&&|;|\|\||\|)\s", text):
        words = [w.strip("[]") for w in seg.split()]
        if words and words[0] == "cubuild":
            words = words[1:]
            while words and words[0] in opts[""]:
                words = words[1:]
                if words and not words[0].startswith("-") and words[0] not in opts:
                    words = words[1:]  # the option's value
            cmd = "build"  # no command means build
        elif words and words[0] in opts and words[0] != "":
            cmd = None  # "cubuild images | inspect NAME": a synopsis's alternative command
        else:
            continue
        if words and words[0] in opts and words[0] != "":
            cmd, words = words[0], words[1:]
        if cmd is None:
            continue
        for w in words:
            for o in w.split("|"):
                o = o.strip("[]().,").split("=")[0]
                if re.match(r"^--?[a-zA-Z]", o) and o not in opts[cmd] and o not in opts[""]:
                    problems.append(f"{where}: `{text.strip()}`: {o} is no option of cubuild {cmd} (docs/cli.md)")
    return problems


def inline_commands(root, opts):
    """Inline `cubuild ...` spans of every page but cli.md, and the lines of blocks that are not
    run as they stand (mirrored, skipped): each option must be one cli.md lists for that command (or
    a global one). Returns problems and the number of commands checked."""
    problems, n = [], 0
    for path in pages(root):
        page = os.path.relpath(path, root)
        if page == "docs/cli.md":
            continue
        lines = read(path)
        fence = False
        for num, line in enumerate(lines, 1):
            if line.startswith("```"):
                fence = not fence
                continue
            if fence:
                continue
            for span in re.findall(r"(?<!`)`(cubuild [^`]+)`", line):
                n += 1
                problems += option_problems(f"{page}:{num}", span, opts)
        for start, lang, attrs, body in blocks(lines):
            if lang not in SHELL or not not_run(attrs):
                continue
            joined = []
            for b in body:
                if b[:1].isspace() and joined:
                    joined[-1] += " " + b.strip()  # a synopsis continued on the next line
                else:
                    joined.append(b)
            for b in joined:
                if re.match(r"^(\S+=\S+ )*cubuild\s", b):
                    n += 1
                    problems += option_problems(f"{page}:{start}", re.sub(r"^(\S+=\S+ )*", "", b), opts)
    return problems, n


def compat_rows(root):
    """docs/docker-compat.md: each row's flags must appear in a test file its "tested in" cell names."""
    problems, n = [], 0
    for num, line in enumerate(read(os.path.join(root, "docs", "docker-compat.md")), 1):
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| `") else []
        if len(cells) < 3:
            continue
        flags = re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", cells[0].split("`")[1])
        # test files, and docs pages a test runs (troubleshooting.md entry 10)
        files = [os.path.join("tests", "cli", f) for f in re.findall(r"([\w.-]+\.bats)", cells[-1])]
        files += [os.path.join("docs", f) for f in re.findall(r"([\w.-]+\.md)", cells[-1])]
        missing = [f for f in files if not os.path.exists(os.path.join(root, f))]
        texts = "".join(open(os.path.join(root, f), encoding="utf-8").read() for f in files if f not in missing)
        n += 1
        if missing or not files:
            problems.append(f"docs/docker-compat.md:{num}: names no existing test file ({', '.join(missing) or 'none'})")
        elif flags and not any(re.search(re.escape(f) + r"[\s=]", texts) for f in flags):
            problems.append(f"docs/docker-compat.md:{num}: {', '.join(flags)} appear in none of {', '.join(files)}")
    return problems, n


def check(root):
    """The drift guard: one line per problem, and a summary of what runs where."""
    problems, counts = [], {"run": 0, "console": 0, "mirrored": 0, "skipped": 0, "stand-in": 0}
    bats = {p: open(p, encoding="utf-8").read() for p in glob.glob(os.path.join(root, "tests/cli/*.bats"))}
    for page, test in list(RUN_BY.items()) + list(STANDIN_BY.items()):
        text = bats.get(os.path.join(root, test), "")
        if page.split("/")[-1] not in text:
            problems.append(f"{page}: {test} does not name the page, yet the guard's table says it runs it")
    for path in pages(root):
        page = os.path.relpath(path, root)
        lines = read(path)
        prev_fails = False
        for line, lang, attrs, body in blocks(lines):
            where = f"{page}:{line}"
            after_fails, prev_fails = prev_fails, lang in SHELL and "fails" in attrs
            if not lang:
                problems.append(f"{where}: a block without a language: label it (sh, console, text, yaml, ...)")
                continue
            if lang in ("shell", "zsh"):
                problems.append(f"{where}: ```{lang}: write ```sh or ```console")
                continue
            if lang in SHELL:
                if "mirrored" in attrs:
                    ident = attrs[attrs.index("mirrored") + 1:][:1]
                    if not ident:
                        problems.append(f"{where}: 'mirrored' needs an ID")
                    elif not any(f"docs_block {page} {ident[0]}" in t for t in bats.values()):
                        problems.append(f"{where}: no bats file reads the block with docs_block {page} {ident[0]}")
                    else:
                        counts["mirrored"] += 1
                elif attrs and attrs[0] == "run-by:":
                    test = attrs[1] if len(attrs) > 1 else ""
                    if page.split("/")[-1] not in bats.get(os.path.join(root, test), ""):
                        problems.append(f"{where}: 'run-by: {test}': that bats file does not name {page}")
                    else:
                        counts["run"] += 1
                elif attrs and attrs[0] == "skip:":
                    if len(attrs) < 2:
                        problems.append(f"{where}: 'skip:' needs a reason")
                    else:
                        counts["skipped"] += 1
                elif page not in RUN_BY:
                    problems.append(f"{where}: a ```{lang} block on a page no test runs: add the page to RUN_BY "
                                    "(and run_page it in a test), or mark the block 'mirrored ID' or 'skip: REASON'")
                else:
                    counts["console" if lang == "console" else "run"] += 1
                continue
            if lang == "yaml" and any(YAML_COMMAND_KEYS.match(b) for b in body):
                tag = [a for a in attrs if a in STANDIN_TAGS]
                if not tag:
                    problems.append(f"{where}: a YAML block with commands: tag it {' or '.join(STANDIN_TAGS)}")
                elif page not in STANDIN_BY:
                    problems.append(f"{where}: no test runs the stand-in of {page}: add it to STANDIN_BY")
                else:
                    counts["stand-in"] += 1
                continue
            if any(b.startswith("$ ") for b in body):
                problems.append(f"{where}: a ```{lang} block holds '$ ' commands: make it ```console")
            elif not after_fails and any(re.match(r"^(sudo )?cubuild\s", b) for b in body):
                problems.append(f"{where}: a ```{lang} block holds a cubuild command: make it ```sh "
                                "(run, 'mirrored ID' or 'skip: REASON')")
        # indented code blocks: a line indented by 4 after a blank line, outside lists and fences
        fence, prev = False, ""
        for n, text in enumerate(lines, 1):
            if text.startswith("```"):
                fence = not fence
            elif not fence and re.match(r"^(    |\t)\S", text) and not prev.strip():
                before = [t for t in lines[:n - 1] if t.strip()]
                if before and not re.match(r"^(\s*[-*+]|\s*\d+\.|\s{2,})", before[-1]):
                    problems.append(f"{page}:{n}: an indented code block: use a fenced block with a language")
            prev = text
    inline, counts["inline cubuild commands checked against docs/cli.md"] = inline_commands(root, cli_options(root))
    rows, counts["docker-compat.md rows with their test"] = compat_rows(root)
    return problems + inline + rows, counts


def main(argv):
    if len(argv) == 2 and argv[1] == "--check":
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        problems, counts = check(root)
        for p in problems:
            print(p)
        print("docs blocks: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        sys.exit(1 if problems else 0)
    if len(argv) == 4 and argv[1] == "--block":
        print(block(argv[2], argv[3]))
        return
    if len(argv) != 2:
        sys.exit(__doc__)
    print(script(argv[1]))


if __name__ == "__main__":
    main(sys.argv)
