"""`python -m asg_parse.cli` runs the asg-parse command line."""
from .app import main

main()
