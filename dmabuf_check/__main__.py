import sys

from dmabuf_check.cli import main

sys.exit(main())
