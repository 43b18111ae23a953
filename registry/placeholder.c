/* placeholder until the module lands */
int cb_registry_placeholder;
