"""The board seam: the SSH session, uploads, the probe and its board-side scripts, board locks."""
