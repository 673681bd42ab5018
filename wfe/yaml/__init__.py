"""YAML workflows: files whose steps run shell commands, Deno scripts or other workflows."""

__all__: list[str] = []
