"""Code review: changes and their patch sets (`changes`, opened by pushes to `refs/for/*`
through `pushes`), reviews and inline comments (`reviews`), and what a change's pages show
(`change_views`)."""
