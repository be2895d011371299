import sys

from wenchuang.cli import main

sys.exit(main())
