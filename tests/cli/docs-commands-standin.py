#!/usr/bin/env python3
"""Local stand-ins for the CI files and the Kubernetes Job of the docs (tests/cli/docs-commands.bats).

  docs-commands-standin.py ci PAGE TAG JOB      prints a bash script that runs JOB of the ```yaml TAG block of
                                       PAGE (TAG: github-actions or gitlab-ci) as a runner would
  docs-commands-standin.py compare PAGE         checks that the line parser reads PAGE's CI jobs as PyYAML does
  docs-commands-standin.py k8s PAGE [ARGS]      prints a bash script that runs the container of PAGE's
                                       ```yaml k8s-job block as the kubelet would (ARGS replaces
                                       the container's args, as the page's GPU-node variant does)

What stands in for what (the pages list the same):
  harbor.example.com                  $CI_REGISTRY, a docker-registry on 127.0.0.1
  a runner / a Pod                    a fresh directory $STANDIN_DIR/JOB with its own store
                                      (CUBUILD_ROOT) and DOCKER_CONFIG: runners share nothing
  actions/checkout, the Job's /src    a copy of examples/ from the repository ($STANDIN_GOLDEN, when
                                      set, replaces examples/golden: the default suite's small context)
  install-deps.sh, the cmake build,   skipped: build/builder/cubuild (and cubuild on PATH) is the
  the cubuild image                   binary under test
  ${{ secrets.* }}, $REGISTRY_USER,   environment variables the test sets (the local registry asks for
  $REGISTRY_PASSWORD                  no password)
  GITHUB_SHA, CI_COMMIT_SHORT_SHA     environment variables the test sets
  Docker Hub (FROM nvidia/cuda, ...)  the local registry as a docker.io mirror ($CUBUILD_CONFIG)
  the GPU runner's cubuild verify      run; with STANDIN_NO_GPU=1 (no GPU here) it must exit 3 saying
                                      "no GPU", and the job goes on as if the step were skipped
  (STANDIN_BUILD_ARGS, heavy test)    options put first in each `cubuild build`: the CA bundle secret
                                      of this network's TLS-inspecting proxy for the golden image
  upload-artifact, artifacts:         not run (the files stay in the runner's directory)
  securityContext                     runAsUser 0: the test runs as root; capabilities: setpriv keeps
                                      the container runtime's default set plus what `add` names
                                      (docker's and containerd's defaults); seccomp and AppArmor
                                      `Unconfined`: this host applies neither
  the Job's volumes                   directories under the Pod's directory, their paths substituted
Parsing: PyYAML when it is installed (or unless STANDIN_NO_PYYAML=1), else a line parser that knows
only the shapes these pages use (run:, uses:, script lists with > folding, anchors merged with <<).
"""
import os
import re
import shlex
import sys

# the capabilities containerd and docker give a container by default
DEFAULT_CAPS = ["chown", "dac_override", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
                "net_bind_service", "net_raw", "sys_chroot", "mknod", "audit_write", "setfcap"]


def yaml_block(page, tag):
    lines = open(page, encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^```yaml\s+(.*)$", line)
        if m and tag in m.group(1).split():
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            return "\n".join(lines[i + 1:j])
    sys.exit(f"{page}: no ```yaml {tag} block")


def have_pyyaml():
    if os.environ.get("STANDIN_NO_PYYAML") == "1":
        return False
    try:
        import yaml  # noqa: F401
        return True
    except ImportError:
        return False


def scalar(v):
    v = re.sub(r"\s+#.*$", "", v).strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


def simple_github(text):
    """env and jobs.NAME.steps ([{'run': ..} | {'uses': ..}]) of a GitHub Actions file."""
    env, jobs, lines = {}, {}, text.split("\n")
    section, job, i = None, None, 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"^\S", line):
            section = line.split(":")[0]
        elif section == "env" and re.match(r"^  \w+:", line):
            k, v = line.strip().split(":", 1)
            env[k] = scalar(v)
        elif section == "jobs" and re.match(r"^  [\w-]+:\s*$", line):
            job = line.strip()[:-1]
            jobs[job] = {"steps": []}
        elif section == "jobs" and job and re.match(r"^\s+(- )?[\w-]+:", line):
            m = re.match(r"^(\s*)(- )?([\w-]+):\s?(.*)$", line)
            if m.group(2):
                jobs[job]["steps"].append({})
            key, v = m.group(3), m.group(4).strip()
            if key == "run" and v in ("|", "|-"):
                body, ind = [], None
                while i + 1 < len(lines) and (not lines[i + 1].strip() or
                                              len(lines[i + 1]) - len(lines[i + 1].lstrip()) > len(m.group(1)) + (2 if m.group(2) else 0)):
                    i += 1
                    if ind is None:
                        ind = len(lines[i]) - len(lines[i].lstrip())
                    body.append(lines[i][ind:])
                v = "\n".join(body).rstrip("\n") + ("\n" if v == "|" else "")
            elif key in ("uses", "run"):
                v = scalar(v)
            if key in ("uses", "run") and jobs[job]["steps"]:
                jobs[job]["steps"][-1][key] = v
        i += 1
    return {"env": env, "jobs": jobs}


def simple_gitlab(text):
    """variables and each job's before_script/script lists of a GitLab CI file (anchors and <<)."""
    top, anchors, lines = {}, {}, text.split("\n")
    name, key, i = None, None, 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^([.\w-]+):\s*(&(\w+))?\s*(.*)$", line)
        if m:
            name, key = m.group(1), None
            top[name] = {}
            if m.group(3):
                anchors[m.group(3)] = top[name]
        elif name and re.match(r"^  <<: \*(\w+)", line):
            top[name].update({k: list(v) for k, v in anchors[re.match(r"^  <<: \*(\w+)", line).group(1)].items()})
        elif name and re.match(r"^  [\w]+:", line):
            key, v = line.strip().split(":", 1)
            if name == "variables":
                top[name][key] = scalar(v)
            elif key in ("script", "before_script"):
                top[name][key] = []
            else:
                key = None
        elif name and key and re.match(r"^    - ", line):
            item = line.strip()[2:]
            if item.strip() in (">", "|"):
                body = []
                while i + 1 < len(lines) and lines[i + 1].startswith("      "):
                    i += 1
                    body.append(lines[i].strip())
                item = " ".join(body)
            top[name][key].append(scalar(item) if item[:1] in "'\"" else item)
        i += 1
    return top


def load(text, kind):
    if have_pyyaml():
        import yaml
        return yaml.safe_load(text)
    if kind == "github-actions":
        return simple_github(text)
    if kind == "gitlab-ci":
        return simple_gitlab(text)
    sys.exit("docs-commands-standin.py: the Kubernetes stand-in needs PyYAML")


def subst(cmd):
    cmd = re.sub(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", r"${\1}", cmd)
    # STANDIN_BUILD_ARGS: options put first in each `cubuild build` (the heavy test's CA secret for
    # this network's TLS-inspecting proxy, which the golden Dockerfile's pip step needs)
    extra = os.environ.get("STANDIN_BUILD_ARGS")
    if extra:
        cmd = re.sub(r"(cubuild build )", lambda m: m.group(1) + extra + " ", cmd)
    return cmd.replace("harbor.example.com", "${CI_REGISTRY}")


PRELUDE = r'''set -eo pipefail
: "${CUBUILD:?}" "${CUBUILD_SOURCE_DIR:?}" "${STANDIN_DIR:?}" "${CI_REGISTRY:?}"
standin_checkout() {
        mkdir -p "$RUNNER"
        cp -a "$CUBUILD_SOURCE_DIR/examples" "$CUBUILD_SOURCE_DIR/scripts" "$RUNNER/"
        if [ -n "${STANDIN_GOLDEN:-}" ]; then
                rm -rf "$RUNNER/examples/golden" && cp -a "$STANDIN_GOLDEN" "$RUNNER/examples/golden"
        fi
        echo "standin: checkout: examples/ and scripts/ of the repository${STANDIN_GOLDEN:+ (examples/golden replaced by $STANDIN_GOLDEN)}" >&2
}
standin_build() {
        mkdir -p "$RUNNER/build/builder" && ln -sf "$CUBUILD" "$RUNNER/build/builder/cubuild"
        echo "standin: not run (the binary under test is build/builder/cubuild): $1" >&2
}
'''


def step_is_build(cmd):
    return "install-deps.sh" in cmd or "cmake " in cmd


def ci(page, tag, job):
    doc = load(yaml_block(page, tag), tag)
    out = [PRELUDE, f"export RUNNER=\"$STANDIN_DIR/{job}\"",
           'export CUBUILD_ROOT="$RUNNER/store" DOCKER_CONFIG="$RUNNER/docker"']
    steps = []
    if tag == "github-actions":
        for k, v in (doc.get("env") or {}).items():
            out.append(f"export {k}={shlex.quote(subst(str(v)))}")
            out[-1] = f"export {k}=\"{subst(str(v))}\""
        for s in doc["jobs"][job]["steps"]:
            if "uses" in s and str(s["uses"]).startswith("actions/checkout@"):
                steps.append(("checkout", None))
            elif "uses" in s:
                steps.append(("skip", f"uses: {s['uses']}"))
            else:
                steps.append(("run", s["run"]))
    else:
        for k, v in (doc.get("variables") or {}).items():
            out.append(f"export {k}=\"{subst(str(v))}\"")
        steps.append(("checkout", None))  # GitLab checks the repository out before every job
        j = doc[job]
        for cmd in (j.get("before_script") or []) + (j.get("script") or []):
            steps.append(("run", cmd))
    out.append('mkdir -p "$RUNNER" && cd "$RUNNER"')
    for kind, cmd in steps:
        if kind == "checkout":
            out.append("standin_checkout")
        elif kind == "skip":
            out.append(f"echo {shlex.quote('standin: not run: ' + cmd)} >&2")
        elif step_is_build(cmd):
            out.append(f"standin_build {shlex.quote(cmd.strip())}")
        elif re.search(r"cubuild verify ", cmd) and os.environ.get("STANDIN_NO_GPU") == "1":
            # no GPU here: the step must fail as it would on a runner without one (exit 3, "no GPU")
            cmd = subst(cmd.rstrip("\n"))
            out.append(f"echo {shlex.quote('standin: step (no GPU here, must exit 3): ' + cmd)} >&2")
            out.append(f"r=0; (cd \"$RUNNER\" && bash -eo pipefail -c {shlex.quote(cmd)}) 2>\"$RUNNER/verify.err\" || r=$?")
            out.append('cat "$RUNNER/verify.err" >&2')
            out.append('[ "$r" = 3 ] && grep -q "no GPU" "$RUNNER/verify.err" || '
                       '{ echo "standin: expected exit 3 and no GPU, got $r" >&2; exit 1; }')
            out.append("echo 'standin: verify failed as a runner without a GPU does (exit 3); skipped' >&2")
        else:
            cmd = subst(cmd.rstrip("\n"))
            out.append(f"echo {shlex.quote('standin: step: ' + cmd)} >&2")
            # a step is its own `bash -eo pipefail` script, as GitHub runs `run:` and GitLab its lines
            out.append(f"(cd \"$RUNNER\" && bash -eo pipefail -c {shlex.quote(cmd)})")
    out.append(f"echo 'standin: job {job} of {tag} passed' >&2")
    return "\n".join(out)


def k8s(page, args_override=None):
    doc = load(yaml_block(page, "k8s-job"), "k8s-job")
    pod = doc["spec"]["template"]["spec"]
    c = pod["containers"][0]
    argv = list(c.get("command") or []) + ([args_override] if args_override else list(c.get("args") or []))
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
    sc = c.get("securityContext") or {}

    def paths(s):
        for mp in sorted(mounts, key=len, reverse=True):
            s = re.sub(re.escape(mp) + r"(?=/|\s|$)", "$POD/volumes/" + mounts[mp], s)
        return subst(s)

    out = [PRELUDE, 'export POD="$STANDIN_DIR/pod" RUNNER="$STANDIN_DIR/pod/volumes/src"',
           'mkdir -p "$POD/bin" "$POD/volumes" && ln -sf "$CUBUILD" "$POD/bin/cubuild"']
    secrets = {v["name"] for v in pod.get("volumes") or [] if "secret" in v}
    for mp, name in mounts.items():
        out.append(f'mkdir -p "$POD/volumes/{name}"')
        if name in secrets:
            # the registry secret: a config.json without credentials (the local registry asks for none)
            out.append(f'[ -e "$POD/volumes/{name}/config.json" ] || echo \'{{"auths":{{}}}}\' >"$POD/volumes/{name}/config.json"')
        if mp == "/src":
            out.append('[ -d "$RUNNER/examples" ] || standin_checkout')
    env = ["env", "-i", 'PATH="$POD/bin:/usr/sbin:/usr/bin:/sbin:/bin"', 'HOME=/root',
           'CI_REGISTRY="$CI_REGISTRY"', 'CUBUILD_CONFIG="${CUBUILD_CONFIG:-}"']
    for e in c.get("env") or []:
        env.append(f'{e["name"]}="{paths(str(e["value"]))}"')
    if sc.get("runAsUser") == 0:
        out.append('[ "$(id -u)" = 0 ] || { echo "standin: runAsUser 0 needs root here" >&2; exit 1; }')
    caps = DEFAULT_CAPS + [x.lower() for x in (sc.get("capabilities") or {}).get("add") or []]
    drop = [d.lower() for d in (sc.get("capabilities") or {}).get("drop") or []]
    # STANDIN_CAPS_DROP=a,b: the same Job with fewer capabilities (a test shows what each is for)
    drop += [d for d in os.environ.get("STANDIN_CAPS_DROP", "").split(",") if d]
    caps = [x for x in caps if x not in drop]
    if sc.get("privileged"):
        priv = []
    else:
        priv = ["setpriv", "--inh-caps=-all", "--bounding-set=-all," + ",".join("+" + x for x in caps), "--"]
    out.append(f"echo {shlex.quote('standin: capabilities: ' + (','.join(caps) if priv else 'all (privileged)'))} >&2")
    cmd = " ".join(env + priv + [shlex.quote(argv[0])] + [f'"{paths(a)}"' for a in argv[1:]])
    # the container starts in the image's working directory: / in a Debian image
    out.append(f"(cd / && {cmd})")
    out.append("echo 'standin: the Job container exited 0' >&2")
    return "\n".join(out)


def compare(page):
    """The line parser against PyYAML on every job of PAGE's CI files: one line per job, or exit 1."""
    import yaml  # noqa: F401 (the caller skips without it)
    bad = 0
    for tag, jobs in (("github-actions", ("build", "verify")), ("gitlab-ci", ("build", "verify"))):
        for job in jobs:
            os.environ.pop("STANDIN_NO_PYYAML", None)
            a = ci(page, tag, job)
            os.environ["STANDIN_NO_PYYAML"] = "1"
            b = ci(page, tag, job)
            same = a == b and "cubuild" in a
            bad += not same
            print(f"{tag} {job}: {'same' if same else 'DIFFERENT'}")
    sys.exit(1 if bad else 0)


def main(argv):
    if len(argv) == 3 and argv[1] == "compare":
        compare(argv[2])
    elif len(argv) == 5 and argv[1] == "ci":
        print(ci(argv[2], argv[3], argv[4]))
    elif len(argv) in (3, 4) and argv[1] == "k8s":
        print(k8s(argv[2], argv[3] if len(argv) == 4 else None))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
