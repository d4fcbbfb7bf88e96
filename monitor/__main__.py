"""`python -m monitor`: the newswatch command line."""

from monitor.cli import main

main()
