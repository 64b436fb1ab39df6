"""Report pages, the experiments' comparison table, the CausalQA table."""
