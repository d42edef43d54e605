import sys

from vocalsep.cli import main

sys.exit(main())
