"""batchedit: batch image edits through the Modellix API, resumable and never paying twice.

The command line (`batchedit run`, `validate`, `simulate`, ...) is the product;
the package exports little beyond its version.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
