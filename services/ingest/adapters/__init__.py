"""Adapters turn the payloads real tools send into canonical events; one module per family of tools (`registry`
maps each `adapter` name to its family, `common` holds what they share). This package imports nothing itself,
so the families can import each other's helpers without a cycle."""
