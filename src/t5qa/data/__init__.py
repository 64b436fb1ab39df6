"""Reading sources into the uniform table, tokenizing it, the embedded demo data."""
