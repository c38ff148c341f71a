//! Packer template functions (Go text/template subset with Packer's function set).
