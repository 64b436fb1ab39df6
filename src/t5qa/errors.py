class InputError(Exception):
    """Bad input: the message names the file (and row or id) and the problem."""
