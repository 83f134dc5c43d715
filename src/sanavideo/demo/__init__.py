"""The web demo (`sanavideo demo`, the `demo` extra): a leaf over the pipeline; see docs/demo.md."""
