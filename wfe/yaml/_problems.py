"""What is wrong with a YAML workflow file: ``Problem`` (file, line, column, message) and
``YamlError``, the ``DefinitionError`` that lists every problem of a load at once.

Made by the loader (:mod:`wfe.yaml._loader`) and the checks (:mod:`wfe.yaml._spec`); written by
``wfe validate`` as ``file:line:col: message``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from wfe_core.errors import DefinitionError

__all__ = ["Problem", "YamlError"]


@attrs.frozen
class Problem:
    """One problem of a YAML workflow file.

    Attributes:
        file: the file's path, or ``<text>`` for text given directly.
        line: 1-based line of the node the problem is about (0 when unknown).
        column: 1-based column of that node (0 when unknown).
        message: one sentence that says what is wrong and what to do.
    """

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return attrs.asdict(self)


class YamlError(DefinitionError):
    """A YAML workflow file (or several loaded together) has problems; nothing was loaded.

    Attributes:
        yaml_problems: every :class:`Problem`, in file order.
    """

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.yaml_problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__(source, [str(p) for p in self.yaml_problems])
