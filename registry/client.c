/* The client handle: options, the registries config, one curl multi handle, per-host state (scheme,
 * TLS, auth, tokens) and the blobs it has seen where (for cross-repository mounts). */
#include "reg.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char *const default_certs_dirs[] = { "/etc/cubuild/certs.d", "/etc/docker/certs.d",
                                                  "/etc/containers/certs.d" };

static void curl_global_once(void)
{
        static bool done;
        /* libcurl's global init is not thread-safe before 7.84; we are single-threaded here */
        if (!done) {
                curl_global_init(CURL_GLOBAL_DEFAULT);
                done = true;
        }
}

int reg_client_new(const struct reg_opts *o, struct reg_client **ret, struct cb_err *err)
{
        static const struct reg_opts none = { 0 };
        if (!o)
                o = &none;
        curl_global_once();
        struct reg_client *c = cb_xcalloc(1, sizeof(*c));
        int r = 0;
        if (o->config_path) {
                r = reg_config_load(o->config_path, &c->cfg, err);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < o->nmirrors; i++)
                if ((r = reg_config_add_mirror(&c->cfg, o->mirrors[i], err)) < 0)
                        goto fail;
        for (size_t i = 0; i < o->ninsecure; i++)
                reg_config_add_insecure(&c->cfg, o->insecure[i]);
        /* certs.d roots: the caller's, then the config's, then the system's */
        {
                size_t n = o->ncerts_dirs + c->cfg.ncerts_dirs + CB_ARRAY_SIZE(default_certs_dirs);
                char **v = cb_xcalloc(n, sizeof(char *));
                size_t k = 0;
                for (size_t i = 0; i < o->ncerts_dirs; i++)
                        v[k++] = cb_xstrdup(o->certs_dirs[i]);
                for (size_t i = 0; i < c->cfg.ncerts_dirs; i++)
                        v[k++] = c->cfg.certs_dirs[i];
                for (size_t i = 0; i < CB_ARRAY_SIZE(default_certs_dirs); i++)
                        v[k++] = cb_xstrdup(default_certs_dirs[i]);
                free(c->cfg.certs_dirs);
                c->cfg.certs_dirs = v;
                c->cfg.ncerts_dirs = k;
        }
        c->auth_file = o->auth_file ? cb_xstrdup(o->auth_file) : NULL;
        c->platform = o->platform && *o->platform ? cb_xstrdup(o->platform) : reg_host_platform();
        c->max_conns = o->max_conns ? o->max_conns : 6;
        c->max_retries = o->max_retries ? o->max_retries : 5;
        c->retry_base_ms = o->retry_base_ms ? o->retry_base_ms : 250;
        c->stall_timeout_s = o->stall_timeout_s ? o->stall_timeout_s : 60;
        c->chunk_size = o->chunk_size ? o->chunk_size : 64u * 1024u * 1024u;
        c->chunk_threshold = o->chunk_threshold ? o->chunk_threshold : 256u * 1024u * 1024u;
        c->known_blobs = json_object();
        c->multi = curl_multi_init();
        if (!c->multi) {
                r = cb_failc(err, -ENOMEM, "curl_multi_init");
                goto fail;
        }
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) c->max_conns);
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long) c->max_conns * 2);
        *ret = c;
        return 0;
fail:
        reg_client_free(c);
        return r;
}

struct reg_client *reg_client_free(struct reg_client *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->nhosts; i++)
                reg_host_free(c->hosts[i]);
        free(c->hosts);
        if (c->multi)
                curl_multi_cleanup(c->multi);
        reg_config_release(&c->cfg);
        free(c->auth_file);
        free(c->platform);
        json_decref(c->known_blobs);
        free(c);
        return NULL;
}

struct reg_host *reg_client_host(struct reg_client *c, const char *host, bool insecure)
{
        for (size_t i = 0; i < c->nhosts; i++)
                if (!strcmp(reg_host_name(c->hosts[i]), host))
                        return c->hosts[i];
        c->hosts = cb_xrealloc(c->hosts, (c->nhosts + 1) * sizeof(*c->hosts));
        struct reg_host *h = reg_host_new(c, host, insecure);
        c->hosts[c->nhosts++] = h;
        return h;
}

void reg_client_stats(const struct reg_client *c, struct reg_stats *ret)
{
        *ret = c->stats;
}

void reg_client_note_blob(struct reg_client *c, const char *domain, const char *path, const char *digest)
{
        _cleanup_free_ char *key = cb_xasprintf("%s\n%s", domain, digest);
        json_object_set_new(c->known_blobs, key, json_string(path));
}

const char *reg_client_known_repo(struct reg_client *c, const char *host, const char *digest)
{
        _cleanup_free_ char *key = cb_xasprintf("%s\n%s", host, digest);
        return json_string_value(json_object_get(c->known_blobs, key));
}

int reg_client_check_login(struct reg_client *c, const char *registry, const char *user, const char *password,
                           struct cb_err *err)
{
        struct reg_endpoint *eps = NULL;
        size_t n = 0;
        /* any repository name will do: /v2/ needs none, the token needs only a service */
        int r = reg_config_endpoints(&c->cfg, registry, "library/x", false, &eps, &n, err);
        if (r < 0)
                return r;
        struct reg_host *h = reg_client_host(c, eps[n - 1].host, eps[n - 1].insecure);
        reg_endpoints_free(eps, n);
        reg_host_set_cred(h, user, password);
        struct reg_xfer x;
        reg_xfer_init(&x);
        x.host = h;
        reg_xfer_set(&x, "GET", cb_xstrdup("/v2/"));
        r = reg_xfer_run1(c, &x, err);
        if (r == 0 && x.status != 200)
                r = reg_xfer_fail_status(&x, "login", err);
        reg_xfer_release(&x);
        return r;
}
