"""The passes of the canonical form, each one sweep over a graph.

- `shapes`: every value's shape from two probes of the graph with its free
  dims fixed; shape plumbing folded, Reshape targets spelled once.
- `layout`: transposes placed where an op needs them, from a table of how
  each op treats axes.
- `reshapes`: Reshapes moved toward each other until they cancel; unit axes
  only where an op needs them.
"""
