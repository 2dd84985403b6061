"""The `retrorun` command line: `main` (the command table and the one-line error contract),
`commands/` (one module per command, each a thin layer over the library) and `output` (JSON for
machines, rich tables and progress for people)."""
