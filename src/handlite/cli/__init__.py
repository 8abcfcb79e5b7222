"""The `handlite` command line: thin click commands over the library."""
