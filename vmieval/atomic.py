"""Compatibility name: atomic writing now lives with the output pre-flight in `vmieval.outputs`.

`vmieval.atomic` is the same module object as `vmieval.outputs` (so `atomic.write_hook = ...` still
reaches the writer); new code imports `vmieval.outputs`.
"""

import sys

from vmieval import outputs

sys.modules[__name__] = outputs
