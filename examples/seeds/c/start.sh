#!/bin/sh
# Seed C's entry point (the seed does not show it): JupyterLab on 8888 (token-protected, as by default).
# The seed copies site-packages only, not /opt/conda/bin, so the module is run, not the `jupyter` script.
exec python -m jupyterlab --ip=0.0.0.0 --port=8888 --no-browser --allow-root
