"""Print the requirements of requirements.txt that Colab ships (their names; tests/envs/colab.txt pins them)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from helpers.environment import canonical, read_requirements  # noqa: E402


def pinned(path: Path) -> dict[str, str]:
    """name → version of a constraints file of `name==version` lines."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    return pins


if __name__ == "__main__":
    colab = pinned(ROOT / "tests" / "envs" / "colab.txt")
    print(" ".join(req.name for req in read_requirements(ROOT / "requirements.txt") if canonical(req.name) in colab))
