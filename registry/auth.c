/* Credentials as docker keeps them: config.json's "auths" (base64 "auth" = "user:password", or
 * "username"/"password"), "credHelpers" per registry and "credsStore" for all, through the
 * docker-credential-<name> programs (get/store/erase, JSON on stdin/stdout). Which file: an explicit
 * path, $REGISTRY_AUTH_FILE (containers' auth.json, same format), $DOCKER_CONFIG/config.json,
 * ~/.docker/config.json. Secrets are wiped from our buffers before they are freed, and no message
 * ever carries one. Also WWW-Authenticate parsing (RFC 7235). */
#include "reg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

#define AUTH_FILE_MAX (4u * 1024u * 1024u)
#define HELPER_OUT_MAX (64u * 1024u)

void reg_secret_free(char *s)
{
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

void reg_cred_release(struct reg_cred *c)
{
        free(c->user);
        reg_secret_free(c->secret);
        c->user = c->secret = NULL;
}

static void secret_buf_release(struct cb_buf *b)
{
        if (b->p)
                explicit_bzero(b->p, b->cap ? b->cap : b->len);
        cb_buf_release(b);
}

char *reg_auth_file_path(const char *auth_file)
{
        if (auth_file && *auth_file)
                return cb_xstrdup(auth_file);
        const char *e = getenv("REGISTRY_AUTH_FILE");
        if (e && *e)
                return cb_xstrdup(e);
        e = getenv("DOCKER_CONFIG");
        if (e && *e)
                return cb_xasprintf("%s/config.json", e);
        const char *home = getenv("HOME");
        if (!home || !*home) {
                struct passwd *pw = getpwuid(getuid());
                home = pw ? pw->pw_dir : "/";
        }
        return cb_xasprintf("%s/.docker/config.json", home);
}

static bool is_docker_hub(const char *h)
{
        return strcmp(h, "docker.io") == 0 || strcmp(h, "index.docker.io") == 0 ||
               strcmp(h, "registry-1.docker.io") == 0;
}

const char *reg_auth_key(const char *registry)
{
        return is_docker_hub(registry) ? "https://index.docker.io/v1/" : registry;
}

/* "https://host:5000/v1/" -> "host:5000"; docker.io's aliases -> "docker.io". */
static char *normalise_key(const char *k)
{
        const char *p = strstr(k, "://");
        p = p ? p + 3 : k;
        size_t n = strcspn(p, "/");
        char *h = cb_xstrndup(p, n);
        if (is_docker_hub(h)) {
                free(h);
                h = cb_xstrdup("docker.io");
        }
        return h;
}

static int load_json_file(const char *path, json_t **ret, struct cb_err *err)
{
        struct cb_buf b;
        cb_buf_init(&b, AUTH_FILE_MAX);
        int r = cb_read_file(AT_FDCWD, path, AUTH_FILE_MAX, &b, err);
        if (r < 0) {
                cb_buf_release(&b);
                return r;
        }
        json_error_t je;
        json_t *j = json_loadb(b.p, b.len, 0, &je);
        secret_buf_release(&b);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return cb_failc(err, -EBADMSG, "auth file '%s': %s at line %d", path, j ? "not a JSON object" : je.text,
                                je.line);
        }
        *ret = j;
        return 0;
}

/* Runs docker-credential-<helper> <action> with input on stdin; stdout into out. Returns the exit
 * status (>= 0) or < 0 when it could not run. */
static int run_helper(const char *helper, const char *action, const char *input, struct cb_buf *out,
                      struct cb_err *err)
{
        _cleanup_free_ char *prog = cb_xasprintf("docker-credential-%s", helper);
        int in[2] = { -1, -1 }, outp[2] = { -1, -1 };
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
                int e = errno;
                if (in[0] >= 0) {
                        close(in[0]);
                        close(in[1]);
                }
                return cb_fail(err, e, "pipe");
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
        char *argv[] = { prog, (char *) action, NULL };
        pid_t pid;
        int r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(outp[1]);
        if (r != 0) {
                close(in[1]);
                close(outp[0]);
                return cb_fail(err, r, "credential helper '%s'", prog);
        }
        /* the helpers read all of stdin before they answer; inputs are small */
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
        sigaction(SIGPIPE, &ign, &old);
        (void) cb_write_all(in[1], input, strlen(input));
        sigaction(SIGPIPE, &old, NULL);
        close(in[1]);
        int rr = cb_read_all(outp[0], out);
        close(outp[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return cb_fail(err, errno, "credential helper '%s': waitpid", prog);
        if (rr < 0)
                return cb_fail(err, -rr, "credential helper '%s': read", prog);
        if (!WIFEXITED(status))
                return cb_failc(err, -EIO, "credential helper '%s' was killed by signal %d", prog, WTERMSIG(status));
        return WEXITSTATUS(status);
}

static int helper_get(const char *helper, const char *server, struct reg_cred *ret, struct cb_err *err)
{
        struct cb_buf out;
        cb_buf_init(&out, HELPER_OUT_MAX);
        int r = run_helper(helper, "get", server, &out, err);
        if (r < 0) {
                secret_buf_release(&out);
                return r;
        }
        if (r != 0) {
                bool notfound = strstr(out.p, "credentials not found") != NULL;
                secret_buf_release(&out);
                if (notfound)
                        return -ENOENT;
                return cb_failc(err, -EIO, "credential helper 'docker-credential-%s' failed for '%s' (exit %d)", helper,
                                server, r);
        }
        json_error_t je;
        _cleanup_(reg_json_decrefp) json_t *j = json_loadb(out.p, out.len, 0, &je);
        secret_buf_release(&out);
        const char *u = json_string_value(json_object_get(j, "Username"));
        json_t *js = json_object_get(j, "Secret");
        const char *s = json_string_value(js);
        if (!u || !s)
                return cb_failc(err, -EBADMSG, "credential helper 'docker-credential-%s': bad answer for '%s'", helper,
                                server);
        if (!*s)
                return -ENOENT;
        ret->user = cb_xstrdup(u);
        ret->secret = cb_xstrdup(s);
        explicit_bzero((char *) s, json_string_length(js));
        return 0;
}

/* Decodes base64 "user:password". */
static int decode_auth(const char *b64, struct reg_cred *ret)
{
        size_t n = strlen(b64);
        if (n == 0 || n % 4 != 0)
                return -EINVAL;
        _cleanup_free_ unsigned char *plain = cb_xmalloc(n / 4 * 3 + 1);
        int m = EVP_DecodeBlock(plain, (const unsigned char *) b64, (int) n);
        if (m < 0)
                return -EINVAL;
        if (b64[n - 1] == '=')
                m--;
        if (b64[n - 2] == '=')
                m--;
        plain[m] = '\0';
        int r = -EINVAL;
        char *colon = memchr(plain, ':', (size_t) m);
        if (colon && colon != (char *) plain && strlen((char *) plain) == (size_t) m) {
                ret->user = cb_xstrndup((char *) plain, (size_t) (colon - (char *) plain));
                ret->secret = cb_xstrdup(colon + 1);
                r = 0;
        }
        explicit_bzero(plain, (size_t) m);
        return r;
}

/* The object under obj whose key names registry, preferring an exact key. */
static json_t *find_entry(json_t *obj, const char *registry, const char **ret_key)
{
        if (!json_is_object(obj))
                return NULL;
        const char *want_key = reg_auth_key(registry);
        json_t *v = json_object_get(obj, want_key);
        if (v) {
                *ret_key = want_key;
                return v;
        }
        _cleanup_free_ char *want = normalise_key(registry);
        const char *k;
        json_object_foreach(obj, k, v)
        {
                _cleanup_free_ char *nk = normalise_key(k);
                if (strcmp(nk, want) == 0) {
                        *ret_key = k;
                        return v;
                }
        }
        return NULL;
}

int reg_auth_lookup(const char *auth_file, const char *registry, struct reg_cred *ret, struct cb_err *err)
{
        _cleanup_free_ char *path = reg_auth_file_path(auth_file);
        struct stat st;
        if (stat(path, &st) < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return -ENOENT;
                return cb_fail(err, errno, "auth file '%s'", path);
        }
        _cleanup_(reg_json_decrefp) json_t *j = NULL;
        int r = load_json_file(path, &j, err);
        if (r < 0)
                return r;
        const char *key = NULL;
        const char *server = reg_auth_key(registry);
        json_t *h = find_entry(json_object_get(j, "credHelpers"), registry, &key);
        if (json_is_string(h) && *json_string_value(h)) {
                r = helper_get(json_string_value(h), server, ret, err);
                if (r < 0 && r != -ENOENT)
                        cb_wrap(err, "auth file '%s'", path);
                return r;
        }
        json_t *a = find_entry(json_object_get(j, "auths"), registry, &key);
        if (json_is_object(a)) {
                const char *b64 = json_string_value(json_object_get(a, "auth"));
                const char *u = json_string_value(json_object_get(a, "username"));
                const char *p = json_string_value(json_object_get(a, "password"));
                struct reg_cred c = { 0 };
                if (b64 && *b64) {
                        if (decode_auth(b64, &c) < 0)
                                return cb_failc(err, -EBADMSG, "auth file '%s': entry '%s': \"auth\" is not base64 of user:password",
                                                path, key);
                        *ret = c;
                        return 0;
                }
                if (u && *u && p) {
                        ret->user = cb_xstrdup(u);
                        ret->secret = cb_xstrdup(p);
                        return 0;
                }
        }
        json_t *store = json_object_get(j, "credsStore");
        if (json_is_string(store) && *json_string_value(store)) {
                r = helper_get(json_string_value(store), server, ret, err);
                if (r < 0 && r != -ENOENT)
                        cb_wrap(err, "auth file '%s'", path);
                return r;
        }
        return -ENOENT;
}

static const char *helper_for(json_t *j, const char *registry)
{
        const char *key;
        json_t *h = find_entry(json_object_get(j, "credHelpers"), registry, &key);
        if (json_is_string(h) && *json_string_value(h))
                return json_string_value(h);
        json_t *s = json_object_get(j, "credsStore");
        if (json_is_string(s) && *json_string_value(s))
                return json_string_value(s);
        return NULL;
}

static int load_or_new(const char *path, json_t **ret, struct cb_err *err)
{
        struct stat st;
        if (stat(path, &st) < 0 && errno == ENOENT) {
                *ret = json_object();
                return 0;
        }
        return load_json_file(path, ret, err);
}

static int save(const char *path, json_t *j, struct cb_err *err)
{
        _cleanup_free_ char *dir = cb_xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                int r = cb_mkdir_p(AT_FDCWD, dir, 0700, err);
                if (r < 0)
                        return r;
        }
        char *text = json_dumps(j, JSON_INDENT(8) | JSON_SORT_KEYS);
        if (!text)
                return cb_failc(err, -ENOMEM, "auth file '%s': encode", path);
        size_t n = strlen(text);
        char *full = cb_xasprintf("%s\n", text);
        explicit_bzero(text, n);
        free(text);
        int r = cb_write_file_atomic(AT_FDCWD, path, full, n + 1, 0600, err);
        reg_secret_free(full);
        return r;
}

int reg_login(const char *auth_file, const char *registry, const char *user, const char *password,
              struct cb_err *err)
{
        if (!registry || !*registry || !user || !*user || !password)
                return cb_failc(err, -EINVAL, "login: registry, user and password are required");
        if (strchr(user, ':'))
                return cb_failc(err, -EINVAL, "login: a user name may not contain ':'");
        _cleanup_free_ char *path = reg_auth_file_path(auth_file);
        _cleanup_(reg_json_decrefp) json_t *j = NULL;
        int r = load_or_new(path, &j, err);
        if (r < 0)
                return r;
        const char *key = reg_auth_key(registry);
        json_t *auths = json_object_get(j, "auths");
        if (!json_is_object(auths)) {
                auths = json_object();
                json_object_set_new(j, "auths", auths);
        }
        /* drop aliases ("docker.io" for "https://index.docker.io/v1/") so one entry remains */
        {
                _cleanup_free_ char *want = normalise_key(registry);
                const char *k;
                json_t *v;
                void *tmp;
                json_object_foreach_safe(auths, tmp, k, v)
                {
                        _cleanup_free_ char *nk = normalise_key(k);
                        if (strcmp(nk, want) == 0 && strcmp(k, key) != 0)
                                json_object_del(auths, k);
                }
        }
        const char *helper = helper_for(j, registry);
        if (helper) {
                _cleanup_(reg_json_decrefp) json_t *in = json_pack("{s:s,s:s,s:s}", "ServerURL", key, "Username", user,
                                                                  "Secret", password);
                char *text = json_dumps(in, JSON_COMPACT);
                struct cb_buf out;
                cb_buf_init(&out, HELPER_OUT_MAX);
                r = run_helper(helper, "store", text, &out, err);
                explicit_bzero(text, strlen(text));
                free(text);
                cb_buf_release(&out);
                if (r > 0)
                        return cb_failc(err, -EIO, "credential helper 'docker-credential-%s' could not store credentials for '%s' (exit %d)",
                                        helper, key, r);
                if (r < 0)
                        return r;
                json_object_set_new(auths, key, json_object());
                return save(path, j, err);
        }
        _cleanup_free_ char *plain = cb_xasprintf("%s:%s", user, password);
        size_t n = strlen(plain);
        char *b64 = cb_xmalloc(4 * ((n + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *) b64, (unsigned char *) plain, (int) n);
        explicit_bzero(plain, n);
        json_object_set_new(auths, key, json_pack("{s:s}", "auth", b64));
        reg_secret_free(b64);
        return save(path, j, err);
}

int reg_logout(const char *auth_file, const char *registry, struct cb_err *err)
{
        if (!registry || !*registry)
                return cb_failc(err, -EINVAL, "logout: no registry given");
        _cleanup_free_ char *path = reg_auth_file_path(auth_file);
        struct stat st;
        if (stat(path, &st) < 0)
                return cb_failc(err, -ENOENT, "not logged in to '%s'", registry);
        _cleanup_(reg_json_decrefp) json_t *j = NULL;
        int r = load_json_file(path, &j, err);
        if (r < 0)
                return r;
        bool removed = false;
        const char *helper = helper_for(j, registry);
        if (helper) {
                struct cb_buf out;
                cb_buf_init(&out, HELPER_OUT_MAX);
                r = run_helper(helper, "erase", reg_auth_key(registry), &out, err);
                cb_buf_release(&out);
                if (r < 0)
                        return r;
                removed = r == 0;
        }
        json_t *auths = json_object_get(j, "auths");
        const char *key;
        while (find_entry(auths, registry, &key)) {
                json_object_del(auths, key);
                removed = true;
        }
        if (!removed)
                return cb_failc(err, -ENOENT, "not logged in to '%s'", registry);
        return save(path, j, err);
}

/* ---- WWW-Authenticate: scheme 1*SP auth-param *( "," auth-param ) ---- */

void reg_challenge_release(struct reg_challenge *ch)
{
        free(ch->realm);
        free(ch->service);
        free(ch->scope);
        free(ch->error);
        *ch = (struct reg_challenge){ 0 };
}

int reg_challenge_parse(const char *v, struct reg_challenge *ret)
{
        struct reg_challenge ch = { 0 };
        const char *p = v;
        while (*p == ' ')
                p++;
        size_t sl = strcspn(p, " ");
        if (sl == 6 && strncasecmp(p, "bearer", 6) == 0)
                ch.scheme = REG_AUTH_BEARER;
        else if (sl == 5 && strncasecmp(p, "basic", 5) == 0)
                ch.scheme = REG_AUTH_BASIC;
        else
                return -EINVAL;
        p += sl;
        while (*p) {
                while (*p == ' ' || *p == ',')
                        p++;
                if (!*p)
                        break;
                const char *k = p;
                while (*p && *p != '=' && *p != ',' && *p != ' ')
                        p++;
                size_t kl = (size_t) (p - k);
                while (*p == ' ')
                        p++;
                if (*p != '=') {
                        reg_challenge_release(&ch);
                        return -EINVAL;
                }
                p++;
                while (*p == ' ')
                        p++;
                struct cb_buf val;
                cb_buf_init(&val, 64u * 1024u);
                if (*p == '"') {
                        p++;
                        while (*p && *p != '"') {
                                if (*p == '\\' && p[1])
                                        p++;
                                (void) cb_buf_addc(&val, *p++);
                        }
                        if (*p != '"') {
                                cb_buf_release(&val);
                                reg_challenge_release(&ch);
                                return -EINVAL;
                        }
                        p++;
                } else {
                        while (*p && *p != ',' && *p != ' ')
                                (void) cb_buf_addc(&val, *p++);
                }
                char **slot = NULL;
                struct cb_str key = cb_str_from(k, kl);
                if (cb_str_eq_nocase_c(key, "realm"))
                        slot = &ch.realm;
                else if (cb_str_eq_nocase_c(key, "service"))
                        slot = &ch.service;
                else if (cb_str_eq_nocase_c(key, "scope"))
                        slot = &ch.scope;
                else if (cb_str_eq_nocase_c(key, "error"))
                        slot = &ch.error;
                if (slot) {
                        free(*slot);
                        *slot = cb_buf_take(&val, NULL);
                }
                cb_buf_release(&val);
        }
        if (ch.scheme == REG_AUTH_BEARER && (!ch.realm || !*ch.realm)) {
                reg_challenge_release(&ch);
                return -EINVAL;
        }
        *ret = ch;
        return 0;
}
