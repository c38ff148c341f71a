//! The canonical JSON fingerprints hash.

use std::path::Path;

use imgs_template::{Template, canonical_json};

#[test]
fn canonical_form_of_a_layered_template() {
    let text = r#"{
  "_comment": "hardened layer; comments do not change the fingerprint",
  "variables": {
    "source_image": null,
    "version": "1.4.2"
  },
  "builders": [
    {
      "type": "qemu",
      "name": "hardened",
      "iso_url": "{{user `source_image`}}",
      "iso_checksum": "none",
      "disk_image": true,
      "headless": true,
      "ssh_username": "root"
    }
  ],
  "provisioners": [
    {"type": "shell", "scripts": ["scripts/harden.sh"], "environment_vars": ["VERSION={{user `version`}}"]}
  ],
  "post-processors": ["manifest"]
}
"#;
    let t = Template::parse(Path::new("images/hardened/template.json"), text.to_string()).unwrap();
    insta::assert_snapshot!(canonical_json(&t));
}
