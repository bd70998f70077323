"""The ``numcnn`` command: a thin argparse front over the library.

Each sub-command lives in the module that implements it, which provides
``add_parser(subparsers)`` (registering the parser and setting ``func``).  User errors raise
:class:`UserError` and end with one line on stderr and exit status 2, never a traceback.

Under ``mpiexec`` every rank runs this; rank 0 alone prints a user error, after the ranks agree on
it (:func:`numcnn.distributed.agree`), and every rank exits 2.  Any other exception on a rank is
printed once, naming the rank, and ends the whole job (see :mod:`numcnn.distributed.comm`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from . import distributed as dist
from .errors import UserError

# name -> module providing add_parser(subparsers); the order is the order of `numcnn --help`.
COMMANDS = {
    "train": "numcnn.commands.train",
    "evaluate": "numcnn.commands.evaluate",
    "predict": "numcnn.commands.predict",
    "summary": "numcnn.commands.summary",
    "gradcheck": "numcnn.commands.gradcheck",
    "bench": "numcnn.commands.bench",
}


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end like every other user error: one line on stderr, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n" if dist.is_main() else None)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="numcnn",
        description="Convolutional networks on NumPy: train, evaluate, inspect and benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"numcnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a real import error inside the command: let it show
                raise
            continue  # a command whose module is not part of this build (e.g. bench before it lands)
        module.add_parser(subparsers)
    return parser


def main(argv=None) -> int:
    dist.init()  # a group of one unless mpiexec started this process
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        # all ranks agree on the first rank's failure (a rank failing alone ends the job)
        message = str(exc) if getattr(exc, "agreed", False) else dist.agree(str(exc), timeout=30)
        if dist.is_main():
            print(f"numcnn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        dist.abort(1)  # several processes: rank 0 (the one that prints) must not leave the others waiting
        return 1
    except KeyboardInterrupt:
        if dist.is_main():
            print(f"numcnn {args.command}: interrupted", file=sys.stderr)
        dist.abort(130)  # several processes: the others may be waiting in a collective
        return 130


if __name__ == "__main__":
    sys.exit(main())
