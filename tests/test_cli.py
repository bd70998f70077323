"""The ``numcnn`` command line: every subcommand documents itself."""

from __future__ import annotations

import pytest

from numcnn.cli import main
from tests.cli import _in_a_temporary_directory, run_cli  # noqa: F401 (fixtures)



def test_help_texts():
    for cmd in ("train", "evaluate", "predict", "summary", "gradcheck"):
        result = run_cli(cmd, "--help", timeout=60) if cmd == "train" else None
        if result is not None:
            assert result.returncode == 0 and "--resume" in result.stdout and "run folder" in result.stdout
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
