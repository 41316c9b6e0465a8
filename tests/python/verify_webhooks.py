"""Verifies captured webhook deliveries with the Standard Webhooks reference library (PyPI standardwebhooks).

Usage: verify_webhooks.py CAPTURES.json
CAPTURES.json: [{"name", "headers": {...}, "body": "...", "secret": "whsec_...", "valid": true|false}, ...]
Each capture is verified with its secret through standardwebhooks.Webhook.verify; a capture marked
"valid": false must be refused. Prints one JSON line: {"version", "checks", "passed": [...], "failed": [...]}.
"""

import importlib.metadata
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        captures = json.load(f)
    passed, failed = [], []
    for capture in captures:
        name = capture["name"]
        try:
            payload = Webhook(capture["secret"]).verify(capture["body"].encode("utf-8"), capture["headers"])
            outcome = "verified"
            ok = capture["valid"] and isinstance(payload, dict)
        except WebhookVerificationError as e:
            outcome = f"refused: {e}"
            ok = not capture["valid"]
        (passed if ok else failed).append({"check": name, "outcome": outcome})
    print(json.dumps({
        "version": importlib.metadata.version("standardwebhooks"),
        "checks": len(captures),
        "passed": [p["check"] for p in passed],
        "failed": failed,
    }))


if __name__ == "__main__":
    main()
