"""Importing the app's model layer prints no library noise, and other warnings from the same libraries still show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import logging
import core  # installs the filters before transformers imports torchao
import torchao  # noqa: F401
from transformers import AutoModelForCausalLM  # noqa: F401
logging.getLogger("torchao").warning("Failed to load something else")
logging.getLogger("torch.utils._pytree").warning("another pytree warning")
"""


def test_import_prints_only_the_warnings_that_concern_a_user():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "_C_mxfp8" not in done.stderr and "_C_cutlass" not in done.stderr
    assert "Enum subclass" not in done.stderr
    assert "Failed to load something else" in done.stderr and "another pytree warning" in done.stderr
