"""``python -m hallvakt.demo kiosk --config FILE [--screens DIR]``: the
demo's kiosk child (``kiosk_child``), as ``hallvakt demo`` starts it."""

import sys

from hallvakt.demo.kiosk_child import main

sys.exit(main(sys.argv[1:]))
