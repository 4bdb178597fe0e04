"""`python -m scratchdl.text.corpora {list | fetch NAME...}`."""

import sys

from scratchdl.text.corpora import main

sys.exit(main())
