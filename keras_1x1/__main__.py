"""`python -m keras_1x1`: the same as the `keras-1x1` command."""

import sys

from keras_1x1.cli import main

sys.exit(main())
