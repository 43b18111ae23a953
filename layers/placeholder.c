/* placeholder until the module lands */
int cb_layers_placeholder;
