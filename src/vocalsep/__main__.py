import sys

from vocalsep.apps.cli import main

sys.exit(main())
