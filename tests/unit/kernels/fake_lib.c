/* Body of the fake driver libraries the injection-plan tests put in a fake driver root. */
int kv_fake_driver_symbol(void);
int kv_fake_driver_symbol(void)
{
        return 580;
}
