"""`make lint`'s import-linter run (the layers in pyproject.toml).

The folders install as subpackages of a real package: api/ is ``tinyeie`` itself (the Python
API), contract/ is ``tinyeie.contract``, and so on. grimp, which builds import-linter's graph,
refuses a root package whose parent is a regular package, since it expects to find it inside
the parent's folder; here every folder is named as a root of its own, so that check is lifted
and each root is walked in its own folder.
"""

import sys

from grimp.adaptors.packagefinder import ImportLibPackageFinder
from importlinter.cli import lint_imports_command

ImportLibPackageFinder._has_a_non_namespace_parent = lambda self, spec: False

if __name__ == "__main__":
    sys.exit(lint_imports_command())
