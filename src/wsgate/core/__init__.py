"""Pure logic: no I/O, no asyncio, no clock or randomness except what is passed in."""
