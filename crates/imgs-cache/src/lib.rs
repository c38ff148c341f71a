//! Local cache records, one per fingerprint, written atomically.
