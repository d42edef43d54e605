"""Front ends: the command line, the local web page and the demo song."""
