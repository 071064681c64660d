"""``python -m roofline ...``: the same command as the ``roofline`` console script."""

from roofline.cli import main

main()
