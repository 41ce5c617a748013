import sys

from dmabuf_check.cli.main import main

sys.exit(main())
