"""Every dulwich call lives in this package: storage, smart HTTP, packs, diffs."""
