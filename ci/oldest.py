"""Print pip constraints that pin each of the kit's dependencies at its declared floor (CI's "oldest" leg).

torch is left out: CI can install only the torch in ci/torch.txt here, which every leg uses.
"""

import re
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FLOOR = re.compile(r"([A-Za-z0-9._-]+)>=([0-9][0-9A-Za-z.]*)")
LOCAL = ("torch",)


def floors(dependencies: list[str]) -> list[str]:
    """Return 'name==floor' for each dependency, which must be written 'name>=floor' (nothing else is pinnable)."""
    pins = []
    for dependency in dependencies:
        match = FLOOR.fullmatch(dependency.strip())
        if match is None:
            raise SystemExit(f"pyproject.toml: {dependency!r} has no single '>=' floor; write it as 'name>=version'")
        if match[1] not in LOCAL:
            pins.append(f"{match[1]}=={match[2]}")
    return pins


if __name__ == "__main__":
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    sys.stdout.write("\n".join(floors(project["dependencies"])) + "\n")
