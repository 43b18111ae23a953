/* Embedded kernel images, PTX headers, image choice and arch lists (kernels/image.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "kv.h"

static const struct kv_image *embedded_ptx(void)
{
        size_t n;
        const struct kv_image *im = kv_images(&n);

        return kv_image_ptx(im, n);
}

/* The reason the PTX comes from clang: ISA 9.0 (nvcc 13) loads only on drivers >= 580. ISA 6.0 is
 * CUDA 9.0's, the lowest that can target sm_70. */
static void test_embedded_ptx_has_low_isa_for_sm70(void **state)
{
        const struct kv_image *ptx = embedded_ptx();
        unsigned major, minor, sm;

        assert_non_null(ptx);
        assert_int_equal(ptx->data[ptx->len], '\0'); /* cuModuleLoadData wants NUL-terminated text */
        assert_int_equal(kv_ptx_info((const char *) ptx->data, ptx->len, &major, &minor, &sm), 0);
        assert_int_equal(sm, 70);
        assert_int_equal(ptx->sm, 70);
        assert_true(major < 7 || (major == 7 && minor == 0));
        assert_int_equal(major, 6);
        assert_int_equal(minor, 0);
}

static void test_embedded_ptx_defines_both_kernels(void **state)
{
        const struct kv_image *ptx = embedded_ptx();

        assert_non_null(strstr((const char *) ptx->data, ".entry kv_vadd("));
        assert_non_null(strstr((const char *) ptx->data, ".entry kv_sgemm("));
        assert_non_null(strstr((const char *) ptx->data, ".shared")); /* tiles staged in shared memory */
}

static void test_embedded_cubins_are_elf(void **state)
{
        size_t n;
        const struct kv_image *im = kv_images(&n);

        for (size_t i = 0; i < n; i++)
                if (im[i].kind == KV_IMAGE_CUBIN)
                        assert_memory_equal(im[i].data, "\177ELF", 4);
}

static void test_ptx_info_rejects_missing_lines(void **state)
{
        unsigned a, b, c;
        const char *no_target = ".version 7.8\n.address_size 64\n";
        const char *bad = ".version x.8\n.target sm_80\n";
        const char *ok = "//\n.version 7.8\n.target sm_86\n";

        assert_int_equal(kv_ptx_info(no_target, strlen(no_target), &a, &b, &c), -EINVAL);
        assert_int_equal(kv_ptx_info(bad, strlen(bad), &a, &b, &c), -EINVAL);
        assert_int_equal(kv_ptx_info(ok, strlen(ok), &a, &b, &c), 0);
        assert_true(a == 7 && b == 8 && c == 86);
}

static const unsigned char dummy[1];
static const struct kv_image table[] = {
    {KV_IMAGE_PTX, 70, dummy, 0},
    {KV_IMAGE_CUBIN, 75, dummy, 0},
    {KV_IMAGE_CUBIN, 80, dummy, 0},
    {KV_IMAGE_CUBIN, 90, dummy, 0},
};

static void test_pick_prefers_cubin_of_same_major(void **state)
{
        assert_ptr_equal(kv_image_pick(table, 4, 9, 0), &table[3]);
        assert_ptr_equal(kv_image_pick(table, 4, 8, 6), &table[2]); /* sm_80 SASS runs on 8.6 */
        assert_ptr_equal(kv_image_pick(table, 4, 7, 5), &table[1]);
}

static void test_pick_falls_back_to_ptx(void **state)
{
        assert_ptr_equal(kv_image_pick(table, 4, 7, 0), &table[0]);  /* V100: no sm_70 SASS */
        assert_ptr_equal(kv_image_pick(table, 4, 10, 0), &table[0]); /* Blackwell: PTX JIT */
        assert_ptr_equal(kv_image_pick(table, 4, 12, 0), &table[0]);
        assert_null(kv_image_pick(table, 4, 6, 1)); /* older than the PTX target */
}

static void test_arch_list_support(void **state)
{
        const char *cu118 = "sm_37,sm_50,sm_60,sm_70,sm_75,sm_80,sm_86";

        assert_int_equal(kv_arch_list_supports("sm_75,sm_80,sm_86,sm_90,sm_100,sm_120", 9, 0), 2);
        assert_int_equal(kv_arch_list_supports(cu118, 9, 0), 0);              /* no sm_90, no PTX: fails */
        assert_int_equal(kv_arch_list_supports(cu118, 8, 9), 1);              /* sm_86 SASS runs on 8.9 */
        assert_int_equal(kv_arch_list_supports("sm_80,compute_80", 9, 0), 1); /* PTX JIT */
        assert_int_equal(kv_arch_list_supports("sm_90a", 9, 0), 2);
        assert_int_equal(kv_arch_list_supports("sm_90a", 10, 0), 0); /* arch-specific: exact only */
        assert_int_equal(kv_arch_list_supports("", 9, 0), 0);
}

static void test_cuda_version_str(void **state)
{
        char buf[16];

        kv_cuda_version_str(12040, buf, sizeof(buf));
        assert_string_equal(buf, "12.4");
        kv_cuda_version_str(11080, buf, sizeof(buf));
        assert_string_equal(buf, "11.8");
        kv_cuda_version_str(0, buf, sizeof(buf));
        assert_string_equal(buf, "unknown");
}

/* Volta: the sm_70 cubin when the build had a ptxas for it (kernels/fetch-ptxas.sh), else the PTX. */
static void test_volta_gets_embedded_sm70_image(void **state)
{
        size_t n;
        const struct kv_image *im = kv_images(&n);
        const struct kv_image *pick = kv_image_pick(im, n, 7, 0);
        bool have_cubin = false;

        for (size_t i = 0; i < n; i++)
                have_cubin = have_cubin || (im[i].kind == KV_IMAGE_CUBIN && im[i].sm == 70);
        assert_non_null(pick);
        assert_int_equal(pick->sm, 70);
        assert_int_equal(pick->kind, have_cubin ? KV_IMAGE_CUBIN : KV_IMAGE_PTX);
        assert_ptr_equal(kv_image_pick(im, n, 7, 2), pick); /* Xavier (7.2) runs sm_70 SASS */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_embedded_ptx_has_low_isa_for_sm70),
            cmocka_unit_test(test_embedded_ptx_defines_both_kernels),
            cmocka_unit_test(test_embedded_cubins_are_elf),
            cmocka_unit_test(test_ptx_info_rejects_missing_lines),
            cmocka_unit_test(test_pick_prefers_cubin_of_same_major),
            cmocka_unit_test(test_pick_falls_back_to_ptx),
            cmocka_unit_test(test_arch_list_support),
            cmocka_unit_test(test_cuda_version_str),
            cmocka_unit_test(test_volta_gets_embedded_sm70_image),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
