"""`python -m mertk` is the `mertk` command."""

from mertk.cli import main

if __name__ == "__main__":
    main()
