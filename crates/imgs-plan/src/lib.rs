//! Decides, per image, fresh (with the artifact) or build (with the reasons).
