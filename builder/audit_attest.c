/* Attestations as OCI referrers of the image manifest: SLSA v1 provenance (an in-toto statement) and an
 * SPDX 2.3 SBOM of what the image contains (dpkg status, Python dist-info metadata, CUDA libraries).
 * They join the image's referrers index (the OCI 1.1 fallback tag "<repo>:sha256-<hex>") beside the
 * GPU verification report, so `cubuild push` sends them with the image. */
#include "builder/audit.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/imgconfig.h"
#include "builder/internal.h"
#include "builder/steps.h"
#include "layers/layer.h"

#define EMPTY_JSON_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define META_MAX (4u << 20)
#define WALK_MAX_DEPTH 64

/* --- what the image contains --- */
struct pkg {
        char *kind; /* "deb", "pypi", "cuda" */
        char *name, *version, *path;
};
struct pkgs {
        struct pkg *v;
        size_t n;
        char **seen; /* paths found in a higher layer (or whited out there) */
        size_t nseen;
        /* set while one layer is read for its memo: what it found, in order ({"w": whited-out path} or
         * {"f": path, "p": [[kind, name, version]...]}), for replay() over the layers above it */
        json_t *events;
};

static bool seen(struct pkgs *p, const char *path)
{
        for (size_t i = 0; i < p->nseen; i++)
                if (!strcmp(p->seen[i], path))
                        return true;
        return false;
}

static void mark_seen(struct pkgs *p, const char *path)
{
        p->seen = cb_xrealloc(p->seen, (p->nseen + 1) * sizeof(char *));
        p->seen[p->nseen++] = cb_xstrdup(path);
}

/* A file that names packages (dpkg status, METADATA, a CUDA library), or with gone an entry whited out:
 * no lower layer's file at that path counts. */
static void found(struct pkgs *p, const char *path, bool gone)
{
        mark_seen(p, path);
        if (p->events)
                (void) json_array_append_new(p->events, gone ? json_pack("{s:s}", "w", path)
                                                             : json_pack("{s:s, s:[]}", "f", path, "p"));
}

static void pkg_add(struct pkgs *p, const char *kind, const char *name, size_t nl, const char *ver, size_t vl,
                    const char *path)
{
        p->v = cb_xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
        p->v[p->n++] = (struct pkg){ cb_xstrdup(kind), cb_xstrndup(name, nl), cb_xstrndup(ver, vl), cb_xstrdup(path) };
        json_t *last = p->events ? json_array_get(p->events, json_array_size(p->events) - 1) : NULL;
        json_t *list = json_object_get(last, "p");
        if (list)
                (void) json_array_append_new(list, json_pack("[s, s#, s#]", kind, name, (int) nl, ver, (int) vl));
}

/* "Key: value" at the start of a line; value up to the end of the line. */
static bool field(const char *line, const char *end, const char *key, const char **ret, size_t *ret_len)
{
        size_t kl = strlen(key);
        if ((size_t) (end - line) <= kl || strncmp(line, key, kl) || line[kl] != ':')
                return false;
        const char *v = line + kl + 1;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        *ret = v;
        *ret_len = (size_t) (end - v);
        return true;
}

static void parse_dpkg(struct pkgs *p, const char *t, size_t len, const char *path)
{
        const char *name = NULL, *ver = NULL, *status = NULL;
        size_t nl = 0, vl = 0, sl = 0;
        const char *s = t, *e = t + len;
        while (s <= e) {
                const char *nlp = memchr(s, '\n', (size_t) (e - s));
                const char *le = nlp ? nlp : e;
                if (le == s) { /* blank line: end of a paragraph */
                        if (name && ver && status && sl >= 9 && !strncmp(status + sl - 9, "installed", 9) &&
                            !(sl >= 13 && !strncmp(status + sl - 13, "not-installed", 13)))
                                pkg_add(p, "deb", name, nl, ver, vl, path);
                        name = ver = status = NULL;
                } else {
                        (void) (field(s, le, "Package", &name, &nl) || field(s, le, "Version", &ver, &vl) ||
                                field(s, le, "Status", &status, &sl));
                }
                if (!nlp)
                        break;
                s = nlp + 1;
        }
        if (name && ver && status && sl >= 9 && !strncmp(status + sl - 9, "installed", 9))
                pkg_add(p, "deb", name, nl, ver, vl, path);
}

static void parse_metadata(struct pkgs *p, const char *t, size_t len, const char *path)
{
        const char *name = NULL, *ver = NULL;
        size_t nl = 0, vl = 0;
        const char *s = t, *e = t + len;
        while (s < e) {
                const char *nlp = memchr(s, '\n', (size_t) (e - s));
                const char *le = nlp ? nlp : e;
                if (le > s && le[-1] == '\r')
                        le--;
                if (le == s)
                        break; /* the headers end at the first blank line */
                if (!name)
                        (void) field(s, le, "Name", &name, &nl);
                if (!ver)
                        (void) field(s, le, "Version", &ver, &vl);
                if (!nlp)
                        break;
                s = nlp + 1;
        }
        if (name && ver)
                pkg_add(p, "pypi", name, nl, ver, vl, path);
}

/* libcudart.so.12.4.127 -> libcudart, 12.4.127 (the CUDA libraries carry their version in the name) */
static bool cuda_lib(const char *name, size_t *ret_nl, const char **ret_ver)
{
        static const char *const libs[] = { "libcudart", "libcublas", "libcublasLt", "libcudnn", "libnccl",
                                            "libcufft", "libcurand", "libcusolver", "libcusparse", "libnvrtc",
                                            "libnvJitLink", "libcupti", "libnvToolsExt", "libcuda" };
        const char *so = strstr(name, ".so.");
        if (!so || !strchr(so + 4, '.'))
                return false; /* want a full version, not the soname link */
        for (size_t i = 0; i < CB_ARRAY_SIZE(libs); i++) {
                if ((size_t) (so - name) == strlen(libs[i]) && !strncmp(name, libs[i], strlen(libs[i]))) {
                        *ret_nl = (size_t) (so - name);
                        *ret_ver = so + 4;
                        return true;
                }
        }
        return false;
}

static void read_into(struct pkgs *p, int dir_fd, const char *name, const char *path, bool dpkg)
{
        struct cb_buf b;
        cb_buf_init(&b, META_MAX);
        struct cb_err e;
        cb_err_init(&e);
        if (cb_read_file(dir_fd, name, META_MAX, &b, &e) >= 0) {
                if (dpkg)
                        parse_dpkg(p, b.p ? b.p : "", b.len, path);
                else
                        parse_metadata(p, b.p ? b.p : "", b.len, path);
        }
        cb_err_release(&e);
        cb_buf_release(&b);
}

/* One layer's tree: packages in paths no higher layer had. */
static void walk(struct pkgs *p, int dir_fd, const char *rel, unsigned depth, bool in_site)
{
        if (depth > WALK_MAX_DEPTH)
                return;
        int dfd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                if (dfd >= 0)
                        (void) close(dfd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *n = de->d_name;
                if (!strcmp(n, ".") || !strcmp(n, ".."))
                        continue;
                _cleanup_free_ char *path = *rel ? cb_xasprintf("%s/%s", rel, n) : cb_xstrdup(n);
                struct stat st;
                if (fstatat(dir_fd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
                        found(p, path, true); /* an overlay whiteout: gone from the image */
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        size_t l = strlen(n);
                        if (in_site && l > 10 && !strcmp(n + l - 10, ".dist-info")) {
                                _cleanup_free_ char *mp = cb_xasprintf("%s/METADATA", path);
                                if (!seen(p, mp)) {
                                        found(p, mp, false);
                                        _cleanup_close_ int cfd = openat(dir_fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                                        if (cfd >= 0)
                                                read_into(p, cfd, "METADATA", mp, false);
                                }
                                continue;
                        }
                        _cleanup_close_ int cfd = openat(dir_fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd >= 0)
                                walk(p, cfd, path, depth + 1,
                                     in_site || !strcmp(n, "site-packages") || !strcmp(n, "dist-packages"));
                        continue;
                }
                if (!S_ISREG(st.st_mode) || seen(p, path))
                        continue;
                size_t nl;
                const char *ver;
                if (!strcmp(path, "var/lib/dpkg/status")) {
                        found(p, path, false);
                        read_into(p, dir_fd, n, path, true);
                } else if (cuda_lib(n, &nl, &ver)) {
                        found(p, path, false);
                        pkg_add(p, "cuda", n, nl, ver, strlen(ver), path);
                }
        }
        (void) closedir(d);
}

static bool in_site_packages(const char *path)
{
        return strstr(path, "/site-packages/") || strstr(path, "/dist-packages/");
}

/* A layer nobody unpacked: its tar headers, reading only the few files that name packages. */
static int scan_tar(struct pkgs *p, int fd, struct cb_err *err)
{
        struct archive *a = archive_read_new();
        (void) archive_read_support_filter_gzip(a);
        (void) archive_read_support_filter_zstd(a);
        (void) archive_read_support_format_tar(a);
        int r = 0;
        if (archive_read_open_fd(a, fd, 1u << 20) != ARCHIVE_OK) {
                r = cb_failc(err, -EBADMSG, "layer: %s", archive_error_string(a));
                goto out;
        }
        struct archive_entry *ae;
        int ar;
        while ((ar = archive_read_next_header(a, &ae)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
                const char *raw = archive_entry_pathname(ae);
                if (!raw)
                        continue;
                while (raw[0] == '.' && raw[1] == '/')
                        raw += 2;
                while (raw[0] == '/')
                        raw++;
                const char *base = strrchr(raw, '/');
                base = base ? base + 1 : raw;
                if (!strncmp(base, ".wh.", 4) && strcmp(base, ".wh..wh..opq")) {
                        _cleanup_free_ char *gone = cb_xasprintf("%.*s%s", (int) (base - raw), raw, base + 4);
                        found(p, gone, true);
                        continue;
                }
                if (archive_entry_filetype(ae) != AE_IFREG || archive_entry_hardlink(ae) || seen(p, raw))
                        continue;
                size_t l = strlen(raw), nl;
                const char *ver;
                bool dpkg = !strcmp(raw, "var/lib/dpkg/status");
                bool meta = !dpkg && l > 19 && !strcmp(raw + l - 19, ".dist-info/METADATA") && in_site_packages(raw);
                if (!dpkg && !meta) {
                        if (cuda_lib(base, &nl, &ver)) {
                                found(p, raw, false);
                                pkg_add(p, "cuda", base, nl, ver, strlen(ver), raw);
                        }
                        continue;
                }
                _cleanup_free_ char *path = cb_xstrdup(raw);
                found(p, path, false);
                struct cb_buf b;
                cb_buf_init(&b, META_MAX);
                char chunk[65536];
                la_ssize_t n;
                while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
                        if (cb_buf_add(&b, chunk, (size_t) n) < 0)
                                break;
                if (dpkg)
                        parse_dpkg(p, b.p ? b.p : "", b.len, path);
                else
                        parse_metadata(p, b.p ? b.p : "", b.len, path);
                cb_buf_release(&b);
        }
        if (ar != ARCHIVE_EOF)
                r = cb_failc(err, -EBADMSG, "layer: %s", archive_error_string(a));
out:
        (void) archive_read_free(a);
        return r;
}

static void pkgs_release(struct pkgs *p)
{
        for (size_t i = 0; i < p->n; i++) {
                free(p->v[i].kind);
                free(p->v[i].name);
                free(p->v[i].version);
                free(p->v[i].path);
        }
        for (size_t i = 0; i < p->nseen; i++)
                free(p->seen[i]);
        free(p->v);
        free(p->seen);
}

static int pkg_cmp(const void *a, const void *b)
{
        const struct pkg *x = a, *y = b;
        int c = strcmp(x->kind, y->kind);
        if (!c)
                c = strcmp(x->name, y->name);
        if (!c)
                c = strcmp(x->version, y->version);
        return c ? c : strcmp(x->path, y->path);
}

static void spdx_id(struct cb_buf *b, const char *kind, size_t i, const char *name)
{
        (void) cb_buf_addf(b, "SPDXRef-%s-%zu-", kind, i);
        for (const char *c = name; *c; c++)
                (void) cb_buf_addc(b, ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                                       *c == '.' || *c == '-')
                                              ? *c
                                              : '-');
}

static json_t *make_sbom(struct pkgs *p, const char *image_name, const char *manifest_digest, const char *when)
{
        if (p->n > 1)
                qsort(p->v, p->n, sizeof(*p->v), pkg_cmp);
        json_t *packages = json_array(), *rels = json_array();
        json_array_append_new(packages,
                              json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:[{s:s, s:s}]}", "SPDXID",
                                        "SPDXRef-Image", "name", image_name, "downloadLocation", "NOASSERTION",
                                        "filesAnalyzed", 0, "licenseConcluded", "NOASSERTION", "licenseDeclared",
                                        "NOASSERTION", "copyrightText", "NOASSERTION", "primaryPackagePurpose",
                                        "CONTAINER", "checksums", "algorithm", "SHA256", "checksumValue",
                                        manifest_digest + 7));
        json_array_append_new(rels, json_pack("{s:s, s:s, s:s}", "spdxElementId", "SPDXRef-DOCUMENT",
                                              "relationshipType", "DESCRIBES", "relatedSpdxElement", "SPDXRef-Image"));
        for (size_t i = 0; i < p->n; i++) {
                const struct pkg *k = &p->v[i];
                struct cb_buf id, purl;
                cb_buf_init(&id, CB_BUF_UNLIMITED);
                cb_buf_init(&purl, CB_BUF_UNLIMITED);
                spdx_id(&id, k->kind, i, k->name);
                if (!strcmp(k->kind, "deb"))
                        (void) cb_buf_addf(&purl, "pkg:deb/%s@%s", k->name, k->version);
                else if (!strcmp(k->kind, "pypi"))
                        (void) cb_buf_addf(&purl, "pkg:pypi/%s@%s", k->name, k->version);
                else
                        (void) cb_buf_addf(&purl, "pkg:generic/%s@%s", k->name, k->version);
                json_t *pk = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s}]}",
                                       "SPDXID", id.p, "name", k->name, "versionInfo", k->version,
                                       "downloadLocation", "NOASSERTION", "filesAnalyzed", 0, "licenseConcluded",
                                       "NOASSERTION", "licenseDeclared", "NOASSERTION", "copyrightText",
                                       "NOASSERTION", "sourceInfo", k->path, "externalRefs", "referenceCategory",
                                       "PACKAGE-MANAGER", "referenceType", "purl", "referenceLocator", purl.p);
                json_array_append_new(packages, pk);
                json_array_append_new(rels, json_pack("{s:s, s:s, s:s}", "spdxElementId", "SPDXRef-Image",
                                                      "relationshipType", "CONTAINS", "relatedSpdxElement", id.p));
                cb_buf_release(&id);
                cb_buf_release(&purl);
        }
        _cleanup_free_ char *ns = cb_xasprintf("https://cubuild.dev/spdx/%s", manifest_digest + 7);
        _cleanup_free_ char *creator = cb_xasprintf("Tool: cubuild-%s", bld_version());
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:[s]}, s:o, s:o}", "spdxVersion", "SPDX-2.3",
                         "dataLicense", "CC0-1.0", "SPDXID", "SPDXRef-DOCUMENT", "name", image_name,
                         "documentNamespace", ns, "creationInfo", "created", when, "creators", creator, "packages",
                         packages, "relationships", rels);
}

/* --- provenance --- */
static json_t *make_provenance(json_t *manifest, const char *const *tags, size_t ntags, const char *manifest_digest,
                               const char *started, const char *finished)
{
        json_t *in = bld_audit_inputs_json(manifest);
        json_t *ext = json_object(), *internal = json_object(), *deps = json_array(), *args = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(in, k, v)
        {
                const char *s = json_string_value(v);
                if (!s)
                        continue;
                if (!strncmp(k, "build-arg.", 10))
                        json_object_set(args, k + 10, v);
                else if (!strncmp(k, "from.", 5) && strchr(s, '@')) {
                        const char *at = strrchr(s, '@');
                        _cleanup_free_ char *uri = cb_xasprintf("pkg:docker/%.*s", (int) (at - s), s);
                        json_array_append_new(deps, json_pack("{s:s, s:{s:s}, s:{s:s}}", "uri", uri, "digest",
                                                              "sha256", at + 1 + 7, "annotations", "stage", k + 5));
                } else if (!strcmp(k, "dockerfile.digest") && strlen(s) > 7)
                        json_array_append_new(deps, json_pack("{s:s, s:s, s:{s:s}}", "name", "Dockerfile", "uri",
                                                              "file:Dockerfile", "digest", "sha256", s + 7));
                else if (!strcmp(k, "context.digest") && strlen(s) > 7)
                        json_array_append_new(deps, json_pack("{s:s, s:s, s:{s:s}}", "name", "context", "uri",
                                                              "file:.", "digest", "sha256", s + 7));
                else if (!strcmp(k, "target"))
                        json_object_set(ext, "target", v);
                else if (!strncmp(k, "label.", 6)) {
                        json_t *l = json_object_get(ext, "labels");
                        if (!l)
                                json_object_set_new(ext, "labels", l = json_object());
                        json_object_set(l, k + 6, v);
                } else if (!strcmp(k, "source-date-epoch") || !strcmp(k, "compression"))
                        json_object_set(internal, k, v);
        }
        json_object_set_new(ext, "buildArgs", args);
        json_t *subject = json_array();
        for (size_t i = 0; i < ntags; i++)
                json_array_append_new(subject, json_pack("{s:s, s:{s:s}}", "name", tags[i], "digest", "sha256",
                                                         manifest_digest + 7));
        if (!ntags)
                json_array_append_new(subject, json_pack("{s:s, s:{s:s}}", "name", manifest_digest, "digest",
                                                         "sha256", manifest_digest + 7));
        _cleanup_free_ char *builder = cb_xasprintf("https://cubuild.dev/cubuild@%s", bld_version());
        json_t *st = json_pack("{s:s, s:o, s:s, s:{s:{s:s, s:o, s:o, s:o}, s:{s:{s:s, s:{s:s}}, s:{s:s, s:s}}}}",
                               "_type", "https://in-toto.io/Statement/v1", "subject", subject, "predicateType",
                               "https://slsa.dev/provenance/v1", "predicate", "buildDefinition", "buildType",
                               "https://cubuild.dev/build/v1", "externalParameters", ext, "internalParameters",
                               internal, "resolvedDependencies", deps, "runDetails", "builder", "id", builder,
                               "version", "cubuild", bld_version(), "metadata", "startedOn", started, "finishedOn",
                               finished);
        if (in)
                json_decref(in);
        return st;
}

/* --- storing: an artifact manifest per document, merged into the referrers index --- */
static int attach(struct layer_store *s, const char *manifest_digest, json_t *doc, const char *artifact_type,
                  const char *predicate_type, json_t *index, struct cb_err *err)
{
        char doc_digest[CB_DIGEST_STR_LEN], empty[CB_DIGEST_STR_LEN], art[CB_DIGEST_STR_LEN];
        uint64_t doc_len, art_len;
        int r = layer_store_put_json(s, doc, doc_digest, &doc_len, err);
        if (r >= 0)
                r = layer_store_put_blob(s, "{}", 2, empty, err);
        uint64_t msize = layer_store_blob_size(s, manifest_digest);
        if (r < 0)
                return r;
        json_t *layer = json_pack("{s:s, s:s, s:I}", "mediaType", artifact_type, "digest", doc_digest, "size",
                                  (json_int_t) doc_len);
        json_t *an = json_object();
        if (predicate_type) {
                json_object_set_new(layer, "annotations", json_pack("{s:s}", "in-toto.io/predicate-type", predicate_type));
                json_object_set_new(an, "in-toto.io/predicate-type", json_string(predicate_type));
        }
        json_t *a = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:[o], s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2,
                              "mediaType", LAYER_MT_OCI_MANIFEST, "artifactType", artifact_type, "config", "mediaType",
                              "application/vnd.oci.empty.v1+json", "digest", EMPTY_JSON_DIGEST, "size", 2, "layers",
                              layer, "subject", "mediaType", LAYER_MT_OCI_MANIFEST, "digest", manifest_digest, "size",
                              (json_int_t) msize, "annotations", an);
        r = layer_store_put_json(s, a, art, &art_len, err);
        json_decref(a);
        if (r < 0)
                return r;
        json_t *ms = json_object_get(index, "manifests");
        /* one document of each kind: a rebuild replaces the earlier one */
        for (size_t i = json_array_size(ms); i-- > 0;) {
                json_t *e = json_array_get(ms, i);
                const char *t = json_string_value(json_object_get(e, "artifactType"));
                if (t && !strcmp(t, artifact_type))
                        json_array_remove(ms, i);
        }
        json_t *e = json_pack("{s:s, s:s, s:I, s:s}", "mediaType", LAYER_MT_OCI_MANIFEST, "digest", art, "size",
                              (json_int_t) art_len, "artifactType", artifact_type);
        if (predicate_type)
                json_object_set_new(e, "annotations", json_pack("{s:s}", "in-toto.io/predicate-type", predicate_type));
        json_array_append_new(ms, e);
        return 0;
}

/* What a layer holds for the SBOM, as events (struct pkgs' events), remembered per layer content in
 * cache/sbom/ of the store: an image whose base was seen before walks only its new layers. */
static void sbom_memo_path(const struct layer_desc *l, char **ret)
{
        struct cb_sha256 *h = cb_sha256_new();
        char key[CB_DIGEST_STR_LEN];
        const char *parts[] = { "sbom-memo 1", bld_version(), bld_commit(), l->diff_id };
        for (size_t i = 0; i < CB_ARRAY_SIZE(parts); i++)
                cb_sha256_update(h, parts[i], strlen(parts[i]) + 1);
        cb_sha256_final(h, key);
        cb_sha256_free(h);
        *ret = cb_xasprintf("cache/sbom/%s.json", key + 7);
}

static int layer_events(struct layer_store *s, const struct layer_desc *l, json_t **ret, struct cb_err *err)
{
        _cleanup_free_ char *memo = NULL;
        sbom_memo_path(l, &memo);
        struct cb_buf b;
        cb_buf_init(&b, META_MAX * 4);
        struct cb_err e;
        cb_err_init(&e);
        json_t *j = cb_read_file(layer_store_root_fd(s), memo, b.max, &b, &e) >= 0 ? json_loadb(b.p, b.len, 0, NULL)
                                                                                  : NULL;
        cb_err_release(&e);
        cb_buf_release(&b);
        if (json_is_array(j)) {
                *ret = j;
                return 0;
        }
        json_decref(j);
        /* an unpacked layer is walked; any other is streamed, not unpacked for this */
        struct pkgs lp = { .events = json_array() };
        _cleanup_free_ char *dir = cb_xasprintf("%s/layers/%s", layer_store_root(s), l->diff_id + 7);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int r = 0;
        if (dfd >= 0) {
                walk(&lp, dfd, "", 0, false);
        } else {
                _cleanup_close_ int bfd = layer_store_open_blob(s, l->digest, NULL, err);
                r = bfd < 0 ? bfd : scan_tar(&lp, bfd, err);
        }
        json_t *events = CB_TAKE_PTR(lp.events);
        pkgs_release(&lp);
        if (r < 0) {
                json_decref(events);
                return r;
        }
        char *text = json_dumps(events, JSON_COMPACT);
        cb_err_init(&e);
        if (text && cb_mkdir_p(layer_store_root_fd(s), "cache/sbom", 0755, &e) >= 0)
                (void) cb_write_file_atomic(layer_store_root_fd(s), memo, text, strlen(text), 0644, &e);
        cb_err_release(&e); /* without the memo, the next build walks the layer again */
        free(text);
        *ret = events;
        return 0;
}

/* Applies one layer's events below the layers already replayed into p, as walk() would have. */
static void replay(struct pkgs *p, json_t *events)
{
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
                const char *gone = json_string_value(json_object_get(ev, "w"));
                const char *path = json_string_value(json_object_get(ev, "f"));
                if (gone) {
                        mark_seen(p, gone);
                        continue;
                }
                if (!path || seen(p, path))
                        continue;
                mark_seen(p, path);
                size_t k;
                json_t *pk;
                json_array_foreach(json_object_get(ev, "p"), k, pk)
                {
                        const char *kind = json_string_value(json_array_get(pk, 0));
                        const char *name = json_string_value(json_array_get(pk, 1));
                        const char *ver = json_string_value(json_array_get(pk, 2));
                        if (kind && name && ver)
                                pkg_add(p, kind, name, strlen(name), ver, strlen(ver), path);
                }
        }
}

int bld_audit_attest(struct layer_store *s, const char *manifest_digest, const char *const *tags, size_t ntags,
                     int64_t started, int64_t finished, bool provenance, bool sbom, struct cb_err *err)
{
        if (!provenance && !sbom)
                return 0;
        struct layer_image *img = NULL;
        int r = layer_image_read(s, manifest_digest, &img, err);
        if (r < 0)
                return r;
        /* the referrers index as it is (the verification report may be in it) */
        json_t *index = bld_referrers_load(s, manifest_digest, tags, ntags);
        char t0[BLD_TIME_LEN], t1[BLD_TIME_LEN];
        bld_config_format_time(started, t0);
        bld_config_format_time(finished, t1);
        if (provenance) {
                json_t *doc = make_provenance(img->manifest, tags, ntags, manifest_digest, t0, t1);
                r = attach(s, manifest_digest, doc, BLD_ATTEST_INTOTO, "https://slsa.dev/provenance/v1", index, err);
                json_decref(doc);
        }
        if (r >= 0 && sbom) {
                struct pkgs p = { 0 };
                /* top layer first: a package file counts where no layer above had that path */
                for (size_t i = img->nlayers; r >= 0 && i-- > 0;) {
                        json_t *events = NULL;
                        r = layer_events(s, &img->layers[i], &events, err);
                        if (r >= 0)
                                replay(&p, events);
                        json_decref(events);
                }
                if (r >= 0) {
                        json_t *doc = make_sbom(&p, ntags ? tags[0] : manifest_digest, manifest_digest, t1);
                        r = attach(s, manifest_digest, doc, BLD_ATTEST_SPDX, NULL, index, err);
                        json_decref(doc);
                }
                pkgs_release(&p);
        }
        if (r >= 0)
                r = bld_referrers_save(s, manifest_digest, tags, ntags, index, err);
        json_decref(index);
        layer_image_free(img);
        if (r < 0)
                cb_wrap(err, "attestations");
        return r;
}

/* --- cubuild attestations --- */
static const char *kind_of(const char *artifact_type)
{
        if (!artifact_type)
                return "?";
        if (!strcmp(artifact_type, BLD_ATTEST_INTOTO))
                return "provenance";
        if (!strcmp(artifact_type, BLD_ATTEST_SPDX))
                return "sbom";
        if (strstr(artifact_type, "verify"))
                return "verify";
        return artifact_type;
}

static int print_document(struct layer_store *s, const char *art_digest, struct cb_err *err)
{
        struct cb_buf b;
        cb_buf_init(&b, LAYER_JSON_MAX);
        int r = layer_store_read_blob(s, art_digest, LAYER_JSON_MAX, &b, err);
        json_t *m = r >= 0 ? json_loadb(b.p ? b.p : "", b.len, 0, NULL) : NULL;
        cb_buf_release(&b);
        if (r < 0)
                return r;
        const char *d = json_string_value(json_object_get(json_array_get(json_object_get(m, "layers"), 0), "digest"));
        if (!d) {
                json_decref(m);
                return cb_failc(err, -EBADMSG, "artifact %s has no document", art_digest);
        }
        cb_buf_init(&b, 256u << 20);
        r = layer_store_read_blob(s, d, 256u << 20, &b, err);
        json_decref(m);
        if (r >= 0)
                (void) printf("%.*s\n", (int) b.len, b.p ? b.p : "");
        cb_buf_release(&b);
        return r;
}

int bld_cmd_attestations(const struct bld_global *g, int argc, char **argv)
{
        const char *name = NULL, *get = NULL;
        bool json = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                        (void) puts("Usage: cubuild attestations [--format json] [--get provenance|sbom|verify] IMAGE\n\n"
                                    "List the documents that refer to a store image, by name or digest (its referrers\n"
                                    "index, tagged sha256-<hex>): SLSA provenance, SPDX SBOM, GPU verification report.\n"
                                    "--get prints one of them.");
                        return 0;
                } else if (!strcmp(a, "--get") && i + 1 < argc) {
                        get = argv[++i];
                } else if (!strcmp(a, "--format") && i + 1 < argc && !strcmp(argv[i + 1], "json")) {
                        json = true;
                        i++;
                } else if (a[0] == '-' || name) {
                        (void) fputs("cubuild attestations: give one image\nsee 'cubuild attestations --help'\n", stderr);
                        return 2;
                } else {
                        name = a;
                }
        }
        if (!name) {
                (void) fputs("cubuild attestations: give an image\n", stderr);
                return 2;
        }
        struct cb_err err;
        struct layer_store *s = NULL;
        char digest[CB_DIGEST_STR_LEN], idx[CB_DIGEST_STR_LEN];
        cb_err_init(&err);
        _cleanup_free_ char *norm = cb_digest_valid(name) ? cb_xstrdup(name) : bld_ref_normalize(name, &err);
        int r = norm ? layer_store_open(g->root, &s, &err) : -EINVAL;
        if (r >= 0)
                r = layer_store_resolve(s, norm, digest, &err);
        /* by name or by digest: the index is keyed by the image's manifest digest */
        json_t *index = NULL;
        const char *names[1] = { norm };
        if (r >= 0 && bld_referrers_find(s, digest, names, cb_digest_valid(name) ? 0 : 1, idx) == 0) {
                struct cb_buf b;
                cb_buf_init(&b, LAYER_JSON_MAX);
                r = layer_store_read_blob(s, idx, LAYER_JSON_MAX, &b, &err);
                if (r >= 0)
                        index = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
                cb_buf_release(&b);
        }
        json_t *ms = json_object_get(index, "manifests");
        json_t *list = json_array();
        size_t i;
        json_t *e;
        bool found = false;
        json_array_foreach(ms, i, e)
        {
                const char *t = json_string_value(json_object_get(e, "artifactType"));
                const char *d = json_string_value(json_object_get(e, "digest"));
                if (!d)
                        continue;
                if (get) {
                        if (r >= 0 && !found && !strcmp(kind_of(t), get)) {
                                found = true;
                                r = print_document(s, d, &err);
                        }
                        continue;
                }
                json_t *pt = json_object_get(json_object_get(e, "annotations"), "in-toto.io/predicate-type");
                json_t *o = json_pack("{s:s, s:s, s:s, s:O}", "kind", kind_of(t), "artifactType", t ? t : "",
                                      "digest", d, "size", json_object_get(e, "size"));
                if (pt)
                        json_object_set(o, "predicateType", pt);
                if (json)
                        json_array_append(list, o);
                else
                        (void) printf("%-11s %s %s%s%s\n", kind_of(t), d, t ? t : "", pt ? " " : "",
                                      pt ? json_string_value(pt) : "");
                json_decref(o);
        }
        if (r >= 0 && get && !found)
                r = cb_failc(&err, -ENOENT, "no %s attestation for '%s'", get, name);
        if (r >= 0 && json && !get) {
                char *text = json_dumps(list, JSON_INDENT(2));
                (void) printf("%s\n", text);
                free(text);
        }
        json_decref(list);
        if (index)
                json_decref(index);
        int rc = 0;
        if (r < 0) {
                cb_wrap(&err, "attestations '%s'", name);
                rc = bld_report(g, &err);
        }
        layer_store_free(s);
        cb_err_release(&err);
        return rc;
}
