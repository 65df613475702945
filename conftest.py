"""Skip doctest collection of modules whose optional extra is missing."""

import importlib.util

collect_ignore_glob = ["benchmarks/*", "examples/*", "docs/*"]
if importlib.util.find_spec("torch") is None:
    collect_ignore_glob += ["skrep/torch/*", "skrep/datasets.py"]
if importlib.util.find_spec("matplotlib") is None:
    collect_ignore_glob.append("skrep/plotting.py")
