/* parser/arena.c: the bump allocator and vector every parsed file is built from. */
#include "helpers.h"

#include "parser/internal.h"

static void test_arena_alignment_and_big_blocks(void **state)
{
        struct df_arena a = {0};
        char *s = df_arena_strndup(&a, "abc", 3);
        assert_string_equal(s, "abc");
        void *p = df_arena_alloc(&a, 1);
        assert_int_equal((uintptr_t) p % sizeof(max_align_t), 0);
        char *big = df_arena_alloc(&a, 1u << 20);
        memset(big, 1, 1u << 20);
        /* the current chunk keeps its room after a one-off big block */
        char *t = df_arena_strdup(&a, "after");
        assert_string_equal(t, "after");
        assert_null(df_arena_strdup(&a, NULL));
        assert_string_equal(s, "abc");
        df_arena_release(&a);
        df_arena_release(&a);
}

static void test_vec_push_and_move(void **state)
{
        struct df_arena a = {0};
        struct df_vec v;
        df_vec_init(&v, sizeof(int));
        for (int i = 0; i < 100; i++)
                *(int *) df_vec_push(&v) = i;
        size_t n = v.n;
        int *arr = df_vec_to_arena(&v, &a);
        assert_int_equal(n, 100);
        assert_int_equal(arr[99], 99);
        assert_null(v.v);
        df_vec_init(&v, sizeof(int));
        assert_null(df_vec_to_arena(&v, &a));
        df_arena_release(&a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_arena_alignment_and_big_blocks),
            cmocka_unit_test(test_vec_push_and_move),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
