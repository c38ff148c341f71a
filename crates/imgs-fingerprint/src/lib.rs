//! What determines an image's artifact, hashed with blake3: input discovery, parallel hashing, stat cache.
