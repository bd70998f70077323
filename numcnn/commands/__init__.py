"""The ``numcnn`` sub-commands, one module each; every module provides ``add_parser(subparsers)``
(registering its parser and setting ``func``) and is listed in ``numcnn.cli.COMMANDS``."""
