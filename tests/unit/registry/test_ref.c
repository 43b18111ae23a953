/* registry/ref.c: docker's reference grammar and normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "registry/reg.h"

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void check(const char *in, const char *domain, const char *path, const char *tag, const char *digest,
                  const char *canonical, const char *familiar)
{
        struct cb_err err;
        cb_err_init(&err);
        struct reg_ref r;
        int rc = reg_ref_parse(in, &r, &err);
        if (rc != 0)
                fail_msg("'%s': %s", in, cb_err_msg(&err));
        assert_string_equal(r.domain, domain);
        assert_string_equal(r.path, path);
        if (tag)
                assert_string_equal(r.tag, tag);
        else
                assert_null(r.tag);
        if (digest)
                assert_string_equal(r.digest, digest);
        else
                assert_null(r.digest);
        char *s = reg_ref_string(&r);
        assert_string_equal(s, canonical);
        free(s);
        s = reg_ref_familiar(&r);
        assert_string_equal(s, familiar);
        free(s);
        /* the canonical form parses back to itself */
        struct reg_ref r2;
        char *canon = reg_ref_string(&r);
        assert_int_equal(reg_ref_parse(canon, &r2, &err), 0);
        s = reg_ref_string(&r2);
        assert_string_equal(s, canonical);
        free(s);
        free(canon);
        reg_ref_release(&r2);
        reg_ref_release(&r);
        cb_err_release(&err);
}

static void reject(const char *in, const char *needle)
{
        struct cb_err err;
        cb_err_init(&err);
        struct reg_ref r = { 0 };
        int rc = reg_ref_parse(in, &r, &err);
        if (rc != -EINVAL)
                fail_msg("'%s' was accepted (rc %d)", in, rc);
        if (!strstr(cb_err_msg(&err), needle))
                fail_msg("'%s': message '%s' lacks '%s'", in, cb_err_msg(&err), needle);
        assert_null(r.domain);
        cb_err_release(&err);
}

static void test_bare_name_gets_docker_io_library_latest(void **state)
{
        check("ubuntu", "docker.io", "library/ubuntu", "latest", NULL, "docker.io/library/ubuntu:latest",
              "ubuntu:latest");
}

static void test_namespaced_hub_name_keeps_its_namespace(void **state)
{
        check("nvidia/cuda:11.8.0-runtime-ubuntu20.04", "docker.io", "nvidia/cuda", "11.8.0-runtime-ubuntu20.04", NULL,
              "docker.io/nvidia/cuda:11.8.0-runtime-ubuntu20.04", "nvidia/cuda:11.8.0-runtime-ubuntu20.04");
        check("pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime", "docker.io", "pytorch/pytorch",
              "2.1.0-cuda11.8-cudnn8-runtime", NULL, "docker.io/pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime",
              "pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime");
}

static void test_host_port_and_digest(void **state)
{
        check("host:5000/ns/repo@" D64, "host:5000", "ns/repo", NULL, D64, "host:5000/ns/repo@" D64,
              "host:5000/ns/repo@" D64);
        check("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000", "a/b/c", "v1", NULL, "127.0.0.1:5000/a/b/c:v1",
              "127.0.0.1:5000/a/b/c:v1");
        check("localhost/x", "localhost", "x", "latest", NULL, "localhost/x:latest", "localhost/x:latest");
        check("[::1]:5000/x:y", "[::1]:5000", "x", "y", NULL, "[::1]:5000/x:y", "[::1]:5000/x:y");
}

static void test_tag_and_digest_together(void **state)
{
        check("ubuntu:22.04@" D64, "docker.io", "library/ubuntu", "22.04", D64, "docker.io/library/ubuntu:22.04@" D64,
              "ubuntu:22.04@" D64);
}

static void test_index_docker_io_folds_into_docker_io(void **state)
{
        check("index.docker.io/library/debian:bookworm", "docker.io", "library/debian", "bookworm", NULL,
              "docker.io/library/debian:bookworm", "debian:bookworm");
        check("docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", NULL, "docker.io/library/ubuntu:latest",
              "ubuntu:latest");
}

static void test_familiar_form_keeps_docker_io_when_the_path_looks_like_a_host(void **state)
{
        /* found by fuzz-reg-ref: the familiar form must parse back to the same reference */
        check("docker.io/a.b/c", "docker.io", "a.b/c", "latest", NULL, "docker.io/a.b/c:latest", "docker.io/a.b/c:latest");
        check("docker.io/localhost/c", "docker.io", "localhost/c", "latest", NULL, "docker.io/localhost/c:latest",
              "docker.io/localhost/c:latest");
}

static void test_separators_in_path_components(void **state)
{
        check("ns/a.b_c__d---e", "docker.io", "ns/a.b_c__d---e", "latest", NULL, "docker.io/ns/a.b_c__d---e:latest",
              "ns/a.b_c__d---e:latest");
}

static void test_invalid_references_name_the_input(void **state)
{
        reject("", "empty");
        reject("Ubuntu", "must be lowercase");
        reject("docker.io/Library/ubuntu", "must be lowercase");
        reject("ubuntu:", "bad tag");
        reject("ubuntu:-x", "bad tag");
        reject("ubuntu@sha256:abc", "bad sha256 digest");
        reject("ubuntu@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm 'md5'");
        reject("a//b", "bad repository name");
        reject("a/b_", "bad repository name");
        reject("a/_b", "bad repository name");
        reject("a/b...c", "bad repository name");
        reject("ubu ntu", "space");
        reject("host:99999/x", "bad registry host");
        reject("-host.com/x", "bad registry host");
        reject(":tag", "no repository name");
        reject("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "image ID");
        reject("a@" D64 "@" D64, "invalid reference format");
}

static void test_overlong_names_and_tags_are_refused(void **state)
{
        char name[300];
        memset(name, 'a', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        reject(name, "longer than 255");
        char tag[200] = "x:";
        memset(tag + 2, 't', 129);
        tag[131] = '\0';
        reject(tag, "bad tag");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bare_name_gets_docker_io_library_latest),
                cmocka_unit_test(test_namespaced_hub_name_keeps_its_namespace),
                cmocka_unit_test(test_host_port_and_digest),
                cmocka_unit_test(test_tag_and_digest_together),
                cmocka_unit_test(test_index_docker_io_folds_into_docker_io),
                cmocka_unit_test(test_separators_in_path_components),
                cmocka_unit_test(test_familiar_form_keeps_docker_io_when_the_path_looks_like_a_host),
                cmocka_unit_test(test_invalid_references_name_the_input),
                cmocka_unit_test(test_overlong_names_and_tags_are_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
