"""`python -m ui.warm_start`, except that its import of torch waits until a file exists.

A browser test starts the server this way to open a page while the warm start is still running, see
its progress message, then create the file and see the page. Run as
`python tests/browser/gated_start.py RELEASE_FILE [streamlit options]`.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ui import warm_start  # noqa: E402  (light: no torch at import)

RELEASE = Path(sys.argv[1])
_real_import = warm_start._import_torch


def _gated_import() -> None:
    warm_start._state["progress"] = (0.05, "Importing torch and transformers…")
    while not RELEASE.exists():
        time.sleep(0.05)
    _real_import()


warm_start._import_torch = _gated_import
sys.exit(warm_start.main(sys.argv[2:]))
