#!/usr/bin/env python3
"""Writes a small OCI image layout from a JSON spec, for the `cubuild diff` tests:
{"labels": {...}, "layers": [[{"name", "type": f|d|l, "data", "mode", "mtime", "xattrs": {}}...]...]}
Layers are uncompressed PAX tars, so every field (xattrs, mtimes, whiteouts) is under the test's control."""
import hashlib
import io
import json
import os
import sys
import tarfile


def blob(root, data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def layer(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.mode = e.get("mode", 0o644)
            ti.mtime = e.get("mtime", 1700000000)
            ti.uid = ti.gid = 0
            data = e.get("data", "").encode()
            kind = e.get("type", "f")
            if kind == "d":
                ti.type = tarfile.DIRTYPE
                ti.mode = e.get("mode", 0o755)
            elif kind == "l":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e["data"]
                data = b""
            else:
                ti.size = len(data)
            if e.get("xattrs"):
                ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
            t.addfile(ti, io.BytesIO(data) if kind == "f" else None)
    return buf.getvalue()


def main():
    out, spec = sys.argv[1], json.loads(sys.argv[2])
    layers, diff_ids = [], []
    for entries in spec["layers"]:
        data = layer(entries)
        d, n = blob(out, data)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n})
        diff_ids.append(d)
    config = {"architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
              "config": {"Labels": spec.get("labels", {})},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": []}
    cd, cn = blob(out, json.dumps(config, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                "layers": layers}
    md, mn = blob(out, json.dumps(manifest, sort_keys=True).encode())
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                 "digest": md, "size": mn,
                                                 "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


main()
