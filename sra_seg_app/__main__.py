import sys

from sra_seg_app.main import main

sys.exit(main())
