"""The deployed templates as cfn-lint decodes them (tests/deploy's fixtures load them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

ROOT = Path(__file__).parents[2]


def load(path: Path) -> dict[str, Any]:
    doc, problems = decode(str(path))
    assert not problems, problems
    return dict(json.loads(json.dumps(doc)))  # plain dicts and lists, as SAM expects
