"""Pure media value types and helpers: no I/O, no PyAV."""
