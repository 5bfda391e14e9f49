"""Command families, one module each; ``table`` holds the declarations they register."""
