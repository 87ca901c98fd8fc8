"""Allow ``python -m calibcli``."""

from calibcli.cli.main import main

if __name__ == "__main__":
    main()
