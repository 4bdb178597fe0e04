"""Developer tools: checks anyone can run on the source tree (no imports of scratchdl code)."""
