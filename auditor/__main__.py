"""`python -m auditor` is `pgolf-audit`."""

import sys

from auditor.cli import main

sys.exit(main())
