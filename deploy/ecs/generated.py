"""What every template generator under deploy/ecs shares: write the template, or with --check
fail when the committed one differs from what the generator makes now."""

import json
import sys


def write_or_check(path, template, generator):
    text = json.dumps(template, indent=2) + "\n"
    if "--check" in sys.argv[1:]:
        if not path.exists() or path.read_text() != text:
            print(f"{path} is stale: run python3 {generator}", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    return 0
