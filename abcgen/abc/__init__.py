"""The ABC grammar and tools: reading a body, header spellings, validation, forms, transposition."""
