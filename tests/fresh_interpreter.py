"""What a fresh Python process has imported after running some code: the import-hygiene tests'
one probe (start-up must not pay for torch, timm, matplotlib or the CAM stack it does not use)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence


def modules_after(
    code: str, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> set[str]:
    """The names in ``sys.modules`` after ``code`` ran in a new interpreter (``sys.argv[1:]``
    is ``args``; ``env`` is added to this process's environment)."""
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))
