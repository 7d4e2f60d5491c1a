"""The run protocol every command shares: from `sparse <command> <overrides>` to a complete
run directory, or one line on stderr and an exit code. See protocol.py."""
