"""Test support shared by unit, integration and scenario tests (template reading, local stacks)."""
