"""The type variable of a workflow's data, shared by the classes generic in it.

``StepBody``, ``StepExecutionContext``, ``WorkflowDefinition``, ``WorkflowInstance``, the
builders and ``WorkflowHandle`` are generic in ``D``: ``WorkflowBuilder(Order)`` builds a
``WorkflowDefinition[Order]`` whose steps see ``ctx.data`` as an ``Order``. Its default is
``Any`` (PEP 696, through ``typing_extensions`` on Python 3.11 and 3.12), so a bare
``StepExecutionContext`` or ``WorkflowInstance`` means what it did before these classes were
generic, and code that names them without a parameter keeps type-checking under ``--strict``.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypeVar

__all__ = ["D", "S"]

#: The workflow's data type.
D = TypeVar("D", default=Any)
#: The step body class of a step builder (``StepBuilder[D, S]``), for typed ``.output``.
S = TypeVar("S", default=Any)
