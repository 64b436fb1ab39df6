"""Planning the workflow: config checks, experiments and sweeps, code inputs, how steps are launched."""
