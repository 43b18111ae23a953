#!/usr/bin/env python3
"""Differential test: the same Dockerfile built by cubuild and by Debian's buildah 1.28 must give
the same root filesystem and the same config fields.

Each image is flattened (its layers applied in order, whiteouts and opaque directories honoured,
hard links tracked) into a listing: one line per path with type, mode, owner, size, sha256 of the
content or symlink target, and the hard-link group; mtimes are left out. Then the config fields a
`docker inspect` user reads (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels,
StopSignal, Healthcheck, OnBuild, Shell). A listing is stored as the difference against the
bookworm fixture base (images whose last stage is FROM scratch: in full), so expected files stay
small while comparing two deltas against the same base still compares whole filesystems.

Modes (see README.md):
  check     build each case with cubuild, compare with tests/differential/expected/CASE.txt
  buildah   build each case with cubuild and with buildah, compare them; also flag stale expected files
  regen     rewrite expected/CASE.txt from buildah (from cubuild for cases buildah cannot build)
  listing   print the listing of an image: oci:DIR[:TAG] or dir:DIR

Every difference is one line `CASE: KEY: cubuild=... | other=...`; those listed in KNOWN.md are
filtered (and counted). The exit status is 1 when any difference remains.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
CASES = os.path.join(HERE, "cases")
EXPECTED = os.path.join(HERE, "expected")
KNOWN = os.path.join(HERE, "KNOWN.md")
PENDING = os.path.join(HERE, "PENDING.md")
BASE_REF = "debian:bookworm"
CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
                 "StopSignal", "Healthcheck", "OnBuild", "Shell"]
PER_KEY = {"Labels", "ExposedPorts", "Volumes"}
ABSENT = "(absent)"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- reading images

def read_json(path):
    with open(path, "rb") as f:
        return json.load(f)


def image_parts(ref):
    """(config dict, [layer blob paths]) of oci:DIR[:TAG] or dir:DIR (containers/image's dir transport)."""
    if ref.startswith("dir:"):
        d = ref[4:]
        man = read_json(os.path.join(d, "manifest.json"))
        blob = lambda dg: os.path.join(d, dg.split(":", 1)[1])
    elif ref.startswith("oci:"):
        rest = ref[4:]
        d, tag = (rest.rsplit(":", 1) + [None])[:2] if ":" in rest else (rest, None)
        idx = read_json(os.path.join(d, "index.json"))
        mans = idx.get("manifests", [])
        if tag is not None:
            mans = [m for m in mans if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
        if len(mans) != 1:
            raise SystemExit(f"{ref}: expected one manifest, found {len(mans)}")
        blob = lambda dg: os.path.join(d, "blobs", *dg.split(":", 1))
        man = read_json(blob(mans[0]["digest"]))
    else:
        raise SystemExit(f"{ref}: give oci:DIR[:TAG] or dir:DIR")
    cfg = read_json(blob(man["config"]["digest"]))
    # cache key: the diff_id (the same for a gzip and a plain copy of one layer), else the blob digest
    ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
    layers = man.get("layers", [])
    keys = ids if len(ids) == len(layers) else [l["digest"] for l in layers]
    return cfg, [(k, blob(l["digest"])) for k, l in zip(keys, layers)]


def norm(name):
    name = name.strip("/")
    while name.startswith("./"):
        name = name[2:]
    if name in ("", "."):
        return "/"
    return "/" + os.path.normpath(name).lstrip("/")


def layer_ops(digest, path, cache_dir):
    """The layer as a list of operations, cached per blob digest."""
    cpath = os.path.join(cache_dir, digest.replace(":", "-") + ".json") if cache_dir else None
    if cpath and os.path.exists(cpath):
        return read_json(cpath)
    ops = []
    with open(path, "rb") as raw:
        head = raw.read(4)
    opener = tarfile.open(path, "r:*") if head[:4] != b"\x28\xb5\x2f\xfd" else zstd_tar(path)
    with opener as tf:
        for ti in tf:
            p = norm(ti.name)
            base = os.path.basename(p)
            if base == ".wh..wh..opq":
                ops.append(["opaque", os.path.dirname(p)])
                continue
            if base.startswith(".wh."):
                ops.append(["whiteout", os.path.join(os.path.dirname(p), base[4:])])
                continue
            a = {"mode": ti.mode & 0o7777, "uid": ti.uid, "gid": ti.gid}
            if ti.isreg():
                h = hashlib.sha256()
                f = tf.extractfile(ti)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
                a.update(type="file", size=ti.size, sha=h.hexdigest())
            elif ti.islnk():
                ops.append(["hardlink", p, norm(ti.linkname)])
                continue
            elif ti.isdir():
                a["type"] = "dir"
            elif ti.issym():
                a.update(type="symlink", target=ti.linkname)
            elif ti.ischr() or ti.isblk():
                a.update(type="char" if ti.ischr() else "block", dev=f"{ti.devmajor},{ti.devminor}")
            elif ti.isfifo():
                a["type"] = "fifo"
            else:
                a["type"] = f"tartype-{ti.type!r}"
            if ti.pax_headers:
                x = sorted(k for k in ti.pax_headers if k.startswith("SCHILY.xattr."))
                if x:
                    a["xattrs"] = ",".join(k[13:] for k in x)
            ops.append(["entry", p, a])
    if cpath:
        tmp = cpath + f".{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(ops, f)
        os.replace(tmp, cpath)
    return ops


def zstd_tar(path):
    data = subprocess.run(["zstd", "-dc", path], check=True, stdout=subprocess.PIPE).stdout
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:")


class Node:
    """One inode: hard links are several paths holding the same Node."""
    __slots__ = ("a",)

    def __init__(self, a):
        self.a = a


def remove_tree(state, p, keep_self=False):
    old = state.get(p)
    if old is not None and old.a["type"] == "dir":
        pre = p.rstrip("/") + "/"
        for k in [k for k in state if k.startswith(pre)]:
            del state[k]
    if not keep_self:
        state.pop(p, None)


def ensure_parents(state, p):
    d = os.path.dirname(p)
    while d != "/" and d not in state:
        state[d] = Node({"type": "dir", "mode": 0o755, "uid": 0, "gid": 0, "implied": True})
        d = os.path.dirname(d)


def flatten(layers, cache_dir):
    state = {"/": Node({"type": "dir", "mode": 0o755, "uid": 0, "gid": 0})}
    for digest, path in layers:
        ops = layer_ops(digest, path, cache_dir)
        # an opaque directory hides what the layers below put in it, not what this layer adds
        for op in ops:
            if op[0] == "opaque":
                remove_tree(state, op[1], keep_self=True)
        for op in ops:
            kind, p = op[0], op[1]
            if kind == "whiteout":
                remove_tree(state, p)
            elif kind == "hardlink":
                tgt = state.get(op[2])
                if tgt is None:
                    raise SystemExit(f"{digest}: hard link {p} -> {op[2]}: no such file")
                remove_tree(state, p)
                ensure_parents(state, p)
                state[p] = tgt
            elif kind == "entry":
                a = op[2]
                old = state.get(p)
                if not (a["type"] == "dir" and old is not None and old.a["type"] == "dir"):
                    remove_tree(state, p)
                ensure_parents(state, p)
                state[p] = Node(a)
    return state


def fmt_attrs(a):
    t = a["type"]
    s = f"{t} {a['mode']:04o} {a['uid']}:{a['gid']}"
    if t == "file":
        s += f" {a['size']} {a['sha'][:16]}"
    elif t == "symlink":
        s += f" -> {a['target']}"
    elif "dev" in a:
        s += f" {a['dev']}"
    if a.get("xattrs"):
        s += f" xattrs={a['xattrs']}"
    return s


def fs_listing(state):
    groups = {}
    for p, n in state.items():
        if n.a["type"] == "file":
            groups.setdefault(id(n), []).append(p)
    out = {}
    for p, n in state.items():
        s = fmt_attrs(n.a)
        g = groups.get(id(n))
        if g and len(g) > 1:
            s += f" links={len(g)} first={min(g)}"
        out[p] = s
    return out


def config_listing(cfg):
    c = cfg.get("config") or {}
    out = {}
    for f in CONFIG_FIELDS:
        v = c.get(f)
        # Docker reads an empty string, list or object as unset; buildah writes "" for User and WorkingDir
        if v is None or v == {} or v == [] or v == "":
            continue
        if f in PER_KEY:
            for k in sorted(v):
                out[f"config {f}.{k}"] = json.dumps(v[k], sort_keys=True)
        else:
            out[f"config {f}"] = json.dumps(v, sort_keys=True)
    return out


def listing(ref, cache_dir, base=None):
    """{key: value}: the filesystem (delta against base when given) and the config fields."""
    cfg, layers = image_parts(ref)
    fs = fs_listing(flatten(layers, cache_dir))
    if base is not None:
        delta = {p: v for p, v in fs.items() if base.get(p) != v}
        delta.update({p: "(removed)" for p in base if p not in fs})
        fs = delta
    fs.update(config_listing(cfg))
    return fs


def write_listing(d, path, header):
    with open(path, "w") as f:
        for h in header:
            f.write(f"# {h}\n")
        for k in sorted(d):
            f.write(f"{k}\t{d[k]}\n")


def read_listing(path):
    d = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            k, v = line.split("\t", 1)
            d[k] = v
    return d


# ---------------------------------------------------------------- known differences

KNOWN_RE = re.compile(r"^- `([^`]+)` `([^`]+)`: (\S.*)$")


def read_known(path):
    """KNOWN.md and PENDING.md entries: `- \\`CASE\\` \\`KEY\\`: reason` (CASE `*` for every case)."""
    known = {}
    with open(path) as f:
        for line in f:
            m = KNOWN_RE.match(line.rstrip("\n"))
            if m:
                known[(m.group(1), m.group(2))] = m.group(3)
    return known


def compare(case, mine, other, other_name, known, pend):
    """(differences, known ones, pending ones): lines `CASE: KEY: cubuild=A | OTHER=B`."""
    diffs, filtered, pending = [], [], []
    for k in sorted(set(mine) | set(other)):
        a, b = mine.get(k, ABSENT), other.get(k, ABSENT)
        if a == b:
            continue
        line = f"{case}: {k}: cubuild={a} | {other_name}={b}"
        if (case, k) in known or ("*", k) in known:
            filtered.append((k, line))
        elif (case, k) in pend:
            pending.append((k, line))
        else:
            diffs.append(line)
    return diffs, filtered, pending


# ---------------------------------------------------------------- cases and builders

def case_names():
    return sorted(n for n in os.listdir(CASES) if os.path.isfile(os.path.join(CASES, n, "Dockerfile")))


class Meta:
    no_buildah = None  # why buildah cannot build the Dockerfile (then Dockerfile.buildah, or cubuild, is the truth)
    pending = None  # a cubuild bug that makes the case fail for now: reported, not counted as a failure
    scratch = False  # the final stage is FROM scratch: the listing is in full, not against the base
    light = False  # part of the default suite
    http = False  # gets --build-arg DT_HTTP=127.0.0.1:PORT, a server of cases/ (for ADD of a URL)


def case_meta(name):
    """The `# difftest: KEY[: VALUE]` lines of the case's Dockerfile."""
    meta, last_from = Meta(), None
    with open(os.path.join(CASES, name, "Dockerfile")) as f:
        for line in f:
            m = re.match(r"#\s*difftest:\s*([a-z-]+)(?::\s*(.*))?$", line.strip())
            if m and m.group(1) == "no-buildah":
                meta.no_buildah = m.group(2) or "buildah cannot build it"
            elif m and m.group(1) == "pending":
                meta.pending = m.group(2) or "a known cubuild bug"
            elif m and m.group(1) == "light":
                meta.light = True
            elif m and m.group(1) == "http":
                meta.http = True
            elif m:
                raise SystemExit(f"cases/{name}/Dockerfile: unknown directive '{m.group(1)}'")
            m = re.match(r"(?i)FROM\s+(?:--\S+\s+)*(\S+)", line.strip())
            if m:
                last_from = m.group(1)
    meta.scratch = last_from == "scratch"
    return meta


class CaseServer:
    """A static HTTP server of cases/ on 127.0.0.1 and a free port, for the cases marked `http`:
    ADD of a URL (with --checksum) reads `http://$DT_HTTP/CASE/...`. Both builders fetch from the
    host's network namespace, so 127.0.0.1 reaches it; started on first use, stopped at the end."""

    def __init__(self):
        self.srv = None

    def address(self):
        if self.srv is None:
            class Quiet(SimpleHTTPRequestHandler):
                def __init__(self, *a, **kw):
                    super().__init__(*a, directory=CASES, **kw)

                def log_message(self, *a):
                    pass

            self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
            threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return f"127.0.0.1:{self.srv.server_address[1]}"

    def build_args(self, meta):
        return ["--build-arg", f"DT_HTTP={self.address()}"] if meta.http else []

    def stop(self):
        if self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()


def run(cmd, log_path, **kw):
    with open(log_path, "ab") as lf:
        lf.write(("$ " + " ".join(cmd) + "\n").encode())
        lf.flush()
        r = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT, **kw)
    if r.returncode != 0:
        with open(log_path, "rb") as lf:
            tail = lf.read().decode(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"{' '.join(cmd[:3])}... exit {r.returncode}:\n  " + "\n  ".join(tail))


def fixture_layout():
    out = subprocess.run(["bash", "-c", '. "$1/tests/fixtures/lib.sh" && fixture_oci bookworm', "-", SRC],
                         check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    return out


class Cubuild:
    def __init__(self, binary, work, layout):
        self.bin, self.work = binary, work
        self.root = os.path.join(work, "cubuild-store")
        self.log = os.path.join(work, "cubuild.log")
        if not os.path.exists(os.path.join(work, "cubuild-loaded")):
            run([self.bin, "--root", self.root, "load", "-t", BASE_REF, f"{layout}:bookworm"], self.log)
            open(os.path.join(work, "cubuild-loaded"), "w").close()

    def build(self, name, extra=()):
        dest = os.path.join(self.work, "out", "cubuild-" + name)
        shutil.rmtree(dest, ignore_errors=True)
        ctx = os.path.join(CASES, name)
        run([self.bin, "--root", self.root, "build", "--progress", "plain", "-t", f"difftest/{name}:latest",
             "-o", f"type=oci,dest={dest}"] + list(extra) + [ctx], self.log)
        return f"oci:{dest}"


class Buildah:
    def __init__(self, work, layout):
        self.work = work
        self.root = os.path.join(work, "buildah-root")
        self.runroot = os.path.join(work, "buildah-run")
        self.log = os.path.join(work, "buildah.log")
        self.base = ["buildah", "--root", self.root, "--runroot", self.runroot, "--storage-driver", "overlay"]
        if not os.path.exists(os.path.join(work, "buildah-loaded")):
            run(["skopeo", "copy", "-q", f"oci:{layout}:bookworm",
                 f"containers-storage:[overlay@{self.root}+{self.runroot}]docker.io/library/debian:bookworm"],
                self.log)
            open(os.path.join(work, "buildah-loaded"), "w").close()

    def version(self):
        return subprocess.run(["buildah", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()

    def build(self, name, dockerfile=None, extra=()):
        ctx = os.path.join(CASES, name)
        tag = f"localhost/difftest-{name}:latest"
        run(self.base + ["bud", "--isolation", "oci", "--runtime", "runc", "--layers", "--pull-never",
                         "--format", "docker", "-t", tag] + (["-f", dockerfile] if dockerfile else []) +
            list(extra) + [ctx], self.log)
        # the dir: transport keeps the Docker-format config as built; pushing to an oci: layout
        # converts it and drops Healthcheck, OnBuild and Shell
        dest = os.path.join(self.work, "out", "buildah-" + name)
        shutil.rmtree(dest, ignore_errors=True)
        run(self.base + ["push", "-q", "--disable-compression", tag, f"dir:{dest}"], self.log)
        return f"dir:{dest}"

    def cleanup(self):
        subprocess.run(self.base + ["rm", "--all"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open("/proc/self/mountinfo") as f:
            mounts = [l.split()[4] for l in f]
        for m in sorted((m for m in mounts if m.startswith(self.work + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)


def base_listing(layout, cache_dir):
    return fs_listing(flatten(image_parts(f"oci:{layout}:bookworm")[1], cache_dir))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["check", "buildah", "regen", "listing"])
    ap.add_argument("cases", nargs="*", help="case names (default: all); for listing: image references")
    ap.add_argument("--cubuild", default=os.environ.get("CUBUILD"), help="the cubuild binary ($CUBUILD)")
    ap.add_argument("--work", help="scratch directory kept between runs (default: a temporary one)")
    ap.add_argument("--light", action="store_true", help="only the cases marked `# difftest: light`")
    ap.add_argument("--base", help="listing: print the delta against this image reference")
    ap.add_argument("--expected-dir", default=EXPECTED, help="where the expected listings are (check, regen)")
    argv = sys.argv[1:]
    if "--regen" in argv:  # `difftest.py --regen [CASE...]` is `difftest.py regen [CASE...]`
        argv.remove("--regen")
        argv.insert(0, "regen")
    args = ap.parse_intermixed_args(argv)

    if args.mode == "listing":
        cache = tempfile.mkdtemp(prefix="difftest-cache.")
        try:
            base = fs_listing(flatten(image_parts(args.base)[1], cache)) if args.base else None
            for ref in args.cases:
                for k, v in sorted(listing(ref, cache, base).items()):
                    print(f"{k}\t{v}")
        finally:
            shutil.rmtree(cache)
        return 0

    names = args.cases or case_names()
    for n in names:
        if not os.path.isfile(os.path.join(CASES, n, "Dockerfile")):
            raise SystemExit(f"no case {n} (cases/{n}/Dockerfile)")
    if args.light:
        names = [n for n in names if case_meta(n).light]
    if not args.cubuild:
        raise SystemExit("give --cubuild or set CUBUILD")
    work = args.work or tempfile.mkdtemp(prefix="difftest.")
    os.makedirs(os.path.join(work, "out"), exist_ok=True)
    cache = os.path.join(work, "layer-cache")
    os.makedirs(cache, exist_ok=True)
    layout = fixture_layout()
    known, pend = read_known(KNOWN), read_known(PENDING)
    used, pend_seen = set(), set()
    base = base_listing(layout, cache)
    cb = Cubuild(args.cubuild, work, layout)
    bh = Buildah(work, layout) if args.mode in ("buildah", "regen") else None
    failed, nfiltered, pending = [], 0, []
    http = CaseServer()
    try:
        for name in names:
            meta = case_meta(name)
            twin = os.path.join(CASES, name, "Dockerfile.buildah")
            by_buildah = not meta.no_buildah or os.path.isfile(twin)
            b = None if meta.scratch else base
            exp_path = os.path.join(args.expected_dir, name + ".txt")
            t0 = time.monotonic()
            try:
                mine = listing(cb.build(name, http.build_args(meta)), cache, b)
            except RuntimeError as e:
                print(f"{name}: cubuild build failed: {e}")
                (pending if meta.pending else failed).append(name)
                if meta.pending:
                    print(f"{name}: pending: {meta.pending}")
                if args.mode != "regen" or not by_buildah:
                    continue
                mine = None
            t1 = time.monotonic()
            other = None
            if bh and by_buildah:
                try:
                    theirs = listing(bh.build(name, twin if meta.no_buildah else None, http.build_args(meta)),
                                     cache, b)
                except RuntimeError as e:
                    print(f"{name}: buildah build failed: {e}")
                    failed.append(name)
                    continue
                other = "buildah"
                src = f"source: {bh.version()}" + (" on Dockerfile.buildah (the same image without "
                                                   f"what it cannot build: {meta.no_buildah})" if meta.no_buildah else "")
            elif args.mode == "regen":
                theirs = mine
                src = f"source: cubuild, reviewed by hand (buildah 1.28 cannot build it: {meta.no_buildah})"
            elif not os.path.exists(exp_path):
                print(f"{name}: no expected listing expected/{name}.txt (run regen)")
                failed.append(name)
                continue
            else:
                theirs, other = read_listing(exp_path), "expected"
            t2 = time.monotonic()
            if args.mode == "regen":
                hdr = [f"differential test: expected listing of cases/{name}/Dockerfile",
                       "filesystem as the difference against the bookworm fixture base" if b is not None
                       else "filesystem in full (the final stage is FROM scratch)",
                       "PATH  TYPE MODE UID:GID [SIZE SHA256-PREFIX | -> TARGET] [links=N first=PATH]; "
                       "config FIELD  JSON", src,
                       "regenerate: tests/differential/difftest.py regen " + name]
                os.makedirs(args.expected_dir, exist_ok=True)
                write_listing(theirs, exp_path, hdr)
                log(f"{name}: wrote {os.path.relpath(exp_path, SRC)}")
                if other is None or mine is None:
                    continue
            diffs, filt, pnd = compare(name, mine, theirs, other, known, pend)
            nfiltered += len(filt)
            used.update(k for k, _ in filt)
            pend_seen.update((name, k) for k, _ in pnd)
            for d in diffs:
                print(d)
            for _, d in pnd:
                print(f"pending: {d}")
            for (c, k) in sorted(pend):
                if c == name and (c, k) not in pend_seen:
                    print(f"{name}: note: PENDING.md `{c}` `{k}` matches now: drop the entry")
            if diffs and meta.pending:
                print(f"{name}: pending: {meta.pending}: {len(diffs)} differences not counted")
                pending.append(name)
            elif diffs:
                failed.append(name)
            elif meta.pending:
                print(f"{name}: note: marked pending ({meta.pending}) but matches now: drop the mark")
            if args.mode == "buildah" and by_buildah and os.path.exists(exp_path):
                exp = read_listing(exp_path)
                stale = sorted(k for k in set(theirs) | set(exp) if theirs.get(k) != exp.get(k))
                if stale:
                    print(f"{name}: expected/{name}.txt differs from buildah's listing in {len(stale)} keys "
                          f"(first: {stale[0]}); review the change and run regen")
                    failed.append(name)
            log(f"{name}: {len(diffs)} differences, {len(filt)} known; cubuild {t1 - t0:.1f}s, "
                f"{other} {t2 - t1:.1f}s")
    finally:
        http.stop()
        if bh:
            bh.cleanup()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if args.mode == "buildah" and not args.cases and not args.light:
        for (case, key), reason in sorted(known.items()):
            if key not in used and case in ("*",) + tuple(names):
                print(f"KNOWN.md: `{case}` `{key}` matched no difference: remove it")
                failed.append("KNOWN.md")
    log(f"{len(names)} cases, {len(set(failed))} failed, {len(pending)} pending cases, "
        f"{len(pend_seen)} pending differences (PENDING.md), {nfiltered} known differences filtered (KNOWN.md)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
