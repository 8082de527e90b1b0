"""`python -m yui …` is the `yui` command."""

from yui.cli.main import main

main()
