"""The ``dispatch1310`` command line."""
