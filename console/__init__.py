"""opsconsole: a terminal console for triaging a production stack."""

import sys

# httpx imports its command-line tool (`httpx._main`: rich.syntax, pygments, click; ~40 modules, 30-50 ms)
# whenever rich is installed, and the console never runs it. With this entry that import fails and httpx
# keeps its stub `main` (it expects the ImportError): the sources are built, and the panes go live, sooner.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
