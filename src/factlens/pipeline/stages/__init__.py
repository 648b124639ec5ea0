"""Stage runners: parse the command line, read inputs, call the method, save atomically."""
