import sys

from mlxk.cli.main import main

sys.exit(main())
