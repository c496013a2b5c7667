"""Turn Colab's published pip freeze into a pip constraints file (tests/envs/colab.txt).

Usage: python tests/envs/colab_constraints.py pip-freeze.txt "<source, commit and date>" > tests/envs/colab.txt

Colab installs torch and its companions from wheel URLs (`torch @ https://…/torch-2.11.0%2Bcpu-…whl`):
those become plain pins (`torch==2.11.0`); packages installed from git or local files are left out,
and so are the nvidia-* CUDA libraries: Colab's CPU torch has none, the index's torch brings its own.
"""

from __future__ import annotations

import re
import sys

DIRECT_WHEEL = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*@\s*\S*/(?P<file>[^/]+\.whl)$")


def constraints(freeze: str) -> tuple[list[str], list[str]]:
    """(pins, left-out lines) of a pip freeze."""
    pins, left_out = [], []
    for line in (raw.strip() for raw in freeze.splitlines()):
        if not line or line.startswith("#"):
            continue
        wheel = DIRECT_WHEEL.match(line)
        if line.lower().startswith("nvidia-"):
            left_out.append(line)
        elif "==" in line:
            pins.append(line)
        elif wheel:  # name-version(+local)-python-abi-platform.whl
            version = wheel["file"].split("-")[1].replace("%2B", "+").split("+")[0]
            pins.append(f"{wheel['name']}=={version}")
        else:
            left_out.append(line)
    return pins, left_out


def main(argv: list[str]) -> int:
    path, source = argv
    with open(path, encoding="utf-8") as handle:
        pins, left_out = constraints(handle.read())
    print(f"# Colab's runtime, as published: {source}.")
    print("# Made by tests/envs/colab_constraints.py; wheel-URL installs (torch, torchvision) pinned by version.")
    names = [line.split(" @")[0].split("==")[0] for line in left_out]
    print("# Left out (not on the package index, or CUDA libraries): " + ", ".join(names))
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
