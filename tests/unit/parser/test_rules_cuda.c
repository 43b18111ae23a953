/* parser/rules_cuda.c: the CUDA/PyTorch image rules, each with a firing and a silent case. */
#include "helpers.h"

static void hit_o(const char *text, const struct df_check_opts *o, const char *rule, size_t n, unsigned line,
                  int sev)
{
        unsigned got_line = 0;
        int got_sev = -1;
        size_t got = findings_of(text, o, rule, &got_line, &got_sev);
        if (got != n || (n && got_line != line))
                print_error("%s: want %zu finding(s) at line %u, got %zu at %u\n", rule, n, line, got,
                            got_line);
        assert_int_equal(got, n);
        if (n) {
                assert_int_equal(got_line, line);
                if (sev >= 0)
                        assert_int_equal(got_sev, sev);
        }
}

static void hit(const char *text, const char *rule, size_t n, unsigned line)
{
        hit_o(text, NULL, rule, n, line, -1);
}

static void test_torch_wheel_must_match_base_cuda(void **state)
{
        const char *r = "CudaTorchMismatch";
        /* another major version cannot load; another minor is a warning */
        hit_o("FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04\nRUN pip install torch==2.1.0+cu121\n", NULL, r, 1,
              2, DF_SEV_ERROR);
        hit_o("FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\nRUN pip install torch==2.4.0 --index-url "
              "https://download.pytorch.org/whl/cu121\n",
              NULL, r, 1, 2, DF_SEV_WARNING);
        hit_o(
            "FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime\nRUN pip install torchvision==0.15.2+cu118\n",
            NULL, r, 1, 2, DF_SEV_ERROR);
        hit("FROM nvidia/cuda:11.8.0-runtime-ubuntu20.04\nRUN pip install torch==2.0.1+cu118 "
            "torchvision==0.15.2+cu118 "
            "--extra-index-url https://download.pytorch.org/whl/cu118\n",
            r, 0, 0);
        /* a $VAR base resolves with the ARG defaults; a FROM <stage> follows the chain */
        hit("ARG CUDA=12.4.1\nFROM nvidia/cuda:${CUDA}-devel-ubuntu22.04 AS b\nFROM b\nRUN pip install "
            "torch==2.3.0+cu118\n",
            r, 1, 4);
        /* the caller's resolved CUDA_VERSION wins over the tag text */
        struct df_check_opts o = {.base_cuda_version = "11.8.0"};
        hit_o("FROM registry.local/team/base:v3\nRUN pip install torch==2.0.1+cu118\n", &o, r, 0, 0, -1);
        hit_o("FROM registry.local/team/base:v3\nRUN pip install torch==2.3.0+cu121\n", &o, r, 1, 2, -1);
        /* the index can come from the environment */
        hit("FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\nENV "
            "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cu118\n",
            r, 1, 2);
        hit("FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\nARG TORCH=2.4.0+cu124\nENV "
            "URL=https://example.com/cu12/x\n",
            r, 0, 0);
        /* no CUDA in sight: silent */
        hit("FROM python:3.11-slim\nRUN pip install torch==2.3.0+cu121\n", r, 0, 0);
}

static void test_cuda_tag_invalid(void **state)
{
        hit("FROM nvidia/cuda:11.8-runtime-ubuntu20.04\n", "CudaTagInvalid", 1, 1);
        hit("FROM nvidia/cuda\n", "CudaTagInvalid", 1, 1);
        hit("FROM nvidia/cuda:latest\n", "CudaTagInvalid", 1, 1);
        hit("FROM nvidia/cuda:11.8.0-runtime-ubuntu20.04\nFROM nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04\n",
            "CudaTagInvalid", 0, 0);
}

static void test_base_image_unpinned(void **state)
{
        hit("FROM python\n", "BaseImageUnpinned", 1, 1);
        hit("FROM docker.io/library/ubuntu:latest\n", "BaseImageUnpinned", 1, 1);
        hit("FROM ubuntu:22.04\nFROM scratch\nFROM ubuntu@sha256:0123\nFROM localhost:5000/x:1\n",
            "BaseImageUnpinned", 0, 0);
        hit("FROM localhost:5000/x\n", "BaseImageUnpinned", 1, 1);
}

static void test_apt_no_install_recommends(void **state)
{
        hit("FROM a\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n",
            "AptNoInstallRecommends", 1, 2);
        hit("FROM a\nRUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf "
            "/var/lib/apt/lists/*\n",
            "AptNoInstallRecommends", 0, 0);
        hit("FROM a\nRUN echo apt-get-install\n", "AptNoInstallRecommends", 0, 0);
}

static void test_apt_lists_not_cleaned(void **state)
{
        hit("FROM a\nRUN apt-get update && apt-get install -y --no-install-recommends git\n",
            "AptListsNotCleaned", 1, 2);
        hit("FROM a\nRUN apt-get update\nRUN rm -rf /var/lib/apt/lists/*\n", "AptListsNotCleaned", 1, 2);
        hit("FROM a\nRUN <<EOF\napt-get update\napt-get install -y --no-install-recommends git\nrm -rf "
            "/var/lib/apt/lists/*\nEOF\n",
            "AptListsNotCleaned", 0, 0);
        hit("FROM a\nRUN --mount=type=cache,target=/var/lib/apt --mount=type=cache,target=/var/cache/apt "
            "apt-get "
            "update && apt-get install -y --no-install-recommends git\n",
            "AptListsNotCleaned", 0, 0);
}

static void test_apt_upgrade(void **state)
{
        hit("FROM a\nRUN apt-get update && apt-get -y upgrade\n", "AptUpgrade", 1, 2);
        hit("FROM a\nRUN apt-get dist-upgrade -y\n", "AptUpgrade", 1, 2);
        hit("FROM a\nRUN pip install --upgrade pip==24.0\n", "AptUpgrade", 0, 0);
}

static void test_pip_no_cache_dir(void **state)
{
        hit("FROM a\nRUN pip install wandb==0.16.0\n", "PipNoCacheDir", 1, 2);
        hit("FROM a\nRUN python3 -m pip install numpy==1.26.4\n", "PipNoCacheDir", 1, 2);
        hit("FROM a\nRUN pip install --no-cache-dir numpy==1.26.4\n", "PipNoCacheDir", 0, 0);
        hit("FROM a\nENV PIP_NO_CACHE_DIR=1\nRUN pip install numpy==1.26.4\n", "PipNoCacheDir", 0, 0);
        hit("FROM a\nRUN --mount=type=cache,target=/root/.cache/pip pip install numpy==1.26.4\n",
            "PipNoCacheDir", 0, 0);
        hit("FROM a\nRUN pip freeze > req.txt\n", "PipNoCacheDir", 0, 0);
}

static void test_pip_unpinned(void **state)
{
        hit("FROM a\nRUN pip install --no-cache-dir wandb tensorboard opencv-python\n", "PipUnpinned", 1, 2);
        hit("FROM a\nRUN pip install --no-cache-dir 'numpy>=1.20'\n", "PipUnpinned", 1, 2);
        hit("FROM a\nRUN pip install --no-cache-dir -r requirements.txt torch==2.1.0+cu118 --extra-index-url "
            "https://download.pytorch.org/whl/cu118 ./wheels/x.whl git+https://github.com/a/b@v1 -e .\n",
            "PipUnpinned", 0, 0);
}

static void test_devel_base_in_final_stage(void **state)
{
        hit("FROM pytorch/pytorch:2.9.0-cuda11.8-devel\nRUN x\n", "DevelBaseInFinalStage", 1, 1);
        hit("FROM nvidia/cuda:12.4.1-devel-ubuntu22.04 AS build\nFROM build\n", "DevelBaseInFinalStage", 1,
            2);
        hit("FROM nvidia/cuda:12.4.1-devel-ubuntu22.04 AS build\nFROM "
            "nvidia/cuda:12.4.1-runtime-ubuntu22.04\n",
            "DevelBaseInFinalStage", 0, 0);
        hit("FROM company/develop:1\n", "DevelBaseInFinalStage", 0, 0);
}

static void test_root_user(void **state)
{
        hit("FROM a:1\nRUN x\n", "RootUser", 1, 1);
        hit("FROM a:1\nUSER 1000\nUSER root\n", "RootUser", 1, 3);
        hit("FROM a:1\nUSER appuser\n", "RootUser", 0, 0);
        hit("FROM a:1 AS base\nUSER 1000:1000\nFROM base\nRUN x\n", "RootUser", 0, 0);
        hit("FROM a:1 AS b\nUSER app\nFROM scratch\nCOPY --from=b /x /x\n", "RootUser", 0, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_torch_wheel_must_match_base_cuda),
            cmocka_unit_test(test_cuda_tag_invalid),
            cmocka_unit_test(test_base_image_unpinned),
            cmocka_unit_test(test_apt_no_install_recommends),
            cmocka_unit_test(test_apt_lists_not_cleaned),
            cmocka_unit_test(test_apt_upgrade),
            cmocka_unit_test(test_pip_no_cache_dir),
            cmocka_unit_test(test_pip_unpinned),
            cmocka_unit_test(test_devel_base_in_final_stage),
            cmocka_unit_test(test_root_user),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
