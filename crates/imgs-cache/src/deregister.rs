//! Which cloud images a `prune --deregister` removes, decided from their tags alone.
//!
//! An AMI goes when it was made for an image of the workspace (its `imgs:image` tag) under a
//! fingerprint that is not that image's current one: exactly the records a prune removes, since a
//! prune keeps current records only. An AMI without a fingerprint tag, or of an image the workspace
//! does not have, is left alone: it was not made by a workspace build of this workspace, and deleting
//! on a guess is how images are lost (`imgs gc` handles what failed runs left).

use std::collections::BTreeMap;

use imgs_fingerprint::Fingerprint;

/// Whether an AMI tagged `image` and `fingerprint` is one no current fingerprint uses. `current`
/// holds every workspace image's current fingerprint.
pub fn unused_ami(
    image: &str,
    fingerprint: Option<&str>,
    current: &BTreeMap<String, Fingerprint>,
) -> bool {
    match (current.get(image), fingerprint) {
        (Some(now), Some(tagged)) => now.to_string() != tagged,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_older_fingerprints_of_workspace_images_go() {
        let now = imgs_fingerprint::InputSet::new().fingerprint();
        let current: BTreeMap<String, Fingerprint> = [("base".to_string(), now)].into();
        let now = now.to_string();
        assert!(!unused_ami("base", Some(&now), &current));
        assert!(unused_ami("base", Some("0123"), &current));
        // Not made by a workspace build, or not this workspace's image: kept.
        assert!(!unused_ami("base", None, &current));
        assert!(!unused_ami("other", Some("0123"), &current));
    }
}
