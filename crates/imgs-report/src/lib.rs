//! Human and machine renderings: plans, lineage graphs (text, dot, mermaid, json), diagnostics, inspect.
