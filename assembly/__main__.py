"""`python -m assembly …` is the `yui` command."""

from assembly.cli.main import main

main()
