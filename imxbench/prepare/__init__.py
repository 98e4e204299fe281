"""Host-side model preparation for a delegate: checks and the cached Vela compile."""
