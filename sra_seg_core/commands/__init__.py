"""One module per ``sra-seg`` sub-command; each defines ``register(subparsers)``. Keep heavy imports inside ``run``."""
