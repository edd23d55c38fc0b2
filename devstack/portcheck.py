"""``python3 devstack/portcheck.py PORT``: exit 1, saying so, if 127.0.0.1:PORT
is taken. Standard library only: ``make run`` calls it before it creates the
virtualenv, so that a busy port is found in a second, not after the setup."""
from __future__ import annotations

import socket
import sys


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else 8000
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        print(f"error: 127.0.0.1:{port} is taken ({exc.strerror}); is another stack running? "
              f"Try: make run PORT={port + 10}", file=sys.stderr)
        return 1
    finally:
        probe.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
