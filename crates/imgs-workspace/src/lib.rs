//! Images.toml: members, per-image settings and the image lineage graph.
