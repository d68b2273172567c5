"""The core: the words every other package uses (`vocabulary`) and the root of every exception
tree (`errors`). It imports nothing of ours, so anything may import it."""
