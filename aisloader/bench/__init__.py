"""``python -m aisloader bench``: throughput of every loading mode against the baselines."""
