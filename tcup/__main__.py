import sys

from tcup.cli import main

sys.exit(main())
