"""The definitions a host knows, by id and version. Used by the host and its workers."""

from __future__ import annotations

from ._definition import WorkflowDefinition
from .errors import DuplicateDefinitionError, WorkflowNotRegisteredError

__all__ = ["WorkflowRegistry"]


class WorkflowRegistry:
    """Holds definitions; the highest version of an id is its default."""

    def __init__(self) -> None:
        self._defs: dict[str, dict[int, WorkflowDefinition]] = {}

    def register(self, definition: WorkflowDefinition) -> None:
        """Add a definition. Registering the same graph again is a no-op.

        Raises:
            DuplicateDefinitionError: this id and version already hold a different graph.
        """
        if not isinstance(definition, WorkflowDefinition):
            raise TypeError(
                f"register() takes a built WorkflowDefinition, not {type(definition).__qualname__}; "
                "call .build(id, version) on the builder"
            )
        versions = self._defs.setdefault(definition.id, {})
        existing = versions.get(definition.version)
        if existing is not None and existing is not definition:
            if existing.fingerprint() != definition.fingerprint():
                raise DuplicateDefinitionError(
                    f"workflow {definition.id!r} version {definition.version} is already "
                    "registered with a different graph; give the changed workflow a new version"
                )
            return
        versions[definition.version] = definition

    def get(self, definition_id: str, version: int | None = None) -> WorkflowDefinition:
        """The definition, the latest version when ``version`` is None.

        Raises:
            WorkflowNotRegisteredError: unknown id or version.
        """
        versions = self._defs.get(definition_id)
        if not versions:
            raise WorkflowNotRegisteredError(definition_id, version)
        if version is None:
            return versions[max(versions)]
        found = versions.get(version)
        if found is None:
            raise WorkflowNotRegisteredError(definition_id, version)
        return found

    def is_empty(self) -> bool:
        """No definition registered: the host runs no workflow (it may start them, or publish)."""
        return not self._defs

    def find_id(self, definition_id: str) -> bool:
        """Whether any version of ``definition_id`` is registered."""
        return bool(self._defs.get(definition_id))

    def versions(self) -> dict[str, list[int]]:
        """Definition id -> its registered versions, ascending (what a heartbeat announces)."""
        return {def_id: sorted(versions) for def_id, versions in sorted(self._defs.items())}

    def find(self, definition_id: str, version: int) -> WorkflowDefinition | None:
        return self._defs.get(definition_id, {}).get(version)
