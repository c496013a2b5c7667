"""Check that the Colab bootstrap's install step would change none of Colab's packages.

Run in a virtual environment that holds Colab's packages (make test-colab): the bootstrap's own
function plans its pip install with `--dry-run --report`, pinned to what is installed and to
Colab's published versions (the runtime has more than this environment). Every package in the
plan must be one Colab does not have, or exactly Colab's version of it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from colab_shipped import pinned  # noqa: E402

from helpers.environment import canonical, install_missing, installed_versions  # noqa: E402


def main(constraints: str) -> int:
    colab, installed = pinned(Path(constraints)), installed_versions()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        missing = install_missing(dry_run=True, report=report, extra_constraints=constraints)
        plan = json.loads(report.read_text())["install"] if missing else []
    changes = []
    for item in plan:
        name, version = canonical(item["metadata"]["name"]), item["metadata"]["version"]
        if name in installed or colab.get(name, version) != version:
            changes.append(f"{name} {installed.get(name) or colab.get(name)} → {version}")
    new = sorted(f"{item['metadata']['name']} {item['metadata']['version']}" for item in plan)
    print(f"bootstrap on Colab: missing {missing or 'nothing'}; would install {', '.join(new) or 'nothing'}")
    if changes:
        print(f"FAILED: the bootstrap would change Colab's packages: {'; '.join(changes)}")
        return 1
    print(f"OK: none of the {len(colab)} pinned packages would change")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
