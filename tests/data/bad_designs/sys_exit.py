# expect: the design file raised SystemExit while loading
import sys

sys.exit(3)
