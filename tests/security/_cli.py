"""Run ``terranb`` in a child process, optionally instrumented for the secret scan.

Environment knobs (all optional):

* ``SECSCAN_RECORD``: a file (outside the scanned folders) that receives one JSON
  line per STS key set the emulator issues in this process, so the test knows
  every secret that could leak.
* ``SECSCAN_SK`` / ``SECSCAN_USER_TOKEN``: identities for an emulator started in
  this process (``terranb demo``).
* ``SECSCAN_NO_FILTER=1``: turn the redacting log filter off, to prove that the
  scan fails without it.
"""

from __future__ import annotations

import json
import os
import sys


def _instrument() -> None:
    if os.environ.get("SECSCAN_NO_FILTER"):
        import terranb.redact

        terranb.redact.RedactingFilter.filter = lambda self, record: True  # type: ignore
    record = os.environ.get("SECSCAN_RECORD")
    if record:
        from terranb.emulator import storage

        original = storage.EmbeddedStorage.issue_credentials

        def issue(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            creds = original(self, *args, **kwargs)
            with open(record, "a", encoding="utf-8") as fh:
                fh.write(json.dumps([creds.access_key_id, creds.secret_access_key,
                                     creds.session_token]) + "\n")
            return creds

        storage.EmbeddedStorage.issue_credentials = issue  # type: ignore[method-assign]
    if os.environ.get("SECSCAN_SK"):
        import terranb.emulator

        real_serve = terranb.emulator.serve

        def serve(**kw):  # type: ignore[no-untyped-def]
            kw.setdefault("secret_key", os.environ["SECSCAN_SK"])
            kw.setdefault("user_token", os.environ["SECSCAN_USER_TOKEN"])
            return real_serve(**kw)

        terranb.emulator.serve = serve  # type: ignore[assignment]


if __name__ == "__main__":
    _instrument()
    from terranb.cli.main import main

    sys.exit(main(sys.argv[1:]))
