import sys

from sanavideo.cli import main

sys.exit(main())
