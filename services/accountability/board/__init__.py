"""The journey board: server-rendered pages for the people who own the stages (see docs/board.md)."""
