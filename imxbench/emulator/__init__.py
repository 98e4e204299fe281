"""The built-in i.MX board emulator (board side): board image, sandbox, SSH server."""
