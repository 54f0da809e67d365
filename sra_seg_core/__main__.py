import sys

from sra_seg_core.cli import main

sys.exit(main())
