"""Drivers: one module per chip; synchronous, bus injected, buffers made once."""
