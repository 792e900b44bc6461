"""Where the machine's shared development data lives (never committed): ../shared/data beside the
repository, or $VMIEVAL_SHARED_DATA. Tests that need it are skipped only when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VMIEVAL_SHARED_DATA", REPO.parent / "shared" / "data"))
SHARED_MNIST = SHARED_DATA / "mnist"
SHARED_JOINTVAE = SHARED_DATA / "jointvae-mnist" / "model.pt"
FIXTURE_MODELS = REPO / "fixtures" / "models"
