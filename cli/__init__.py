"""The `tinyeie` command line: a thin shell over the packages below it."""
