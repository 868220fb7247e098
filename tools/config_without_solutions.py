"""Write a copy of _config.yml that hides exercise solutions (sphinx-exercise's hide_solutions)."""
import sys

import yaml

source, target = sys.argv[1], sys.argv[2]
config = yaml.safe_load(open(source))
config["sphinx"]["config"]["hide_solutions"] = True
config["title"] += " (exercises without solutions)"
with open(target, "w") as out:
    yaml.safe_dump(config, out, sort_keys=False)
