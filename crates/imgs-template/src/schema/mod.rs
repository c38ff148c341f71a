//! What Packer 1.6.6 accepts for each builder, provisioner and post-processor type imgs supports.
