//! Hiding the values of sensitive variables in everything a provisioner prints, as Packer does.

use imgs_template::ResolvedVariables;

/// What stands in for a secret in output, Packer's own word for it.
pub const MASK: &str = "<sensitive>";

/// The secret strings of one build.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Longest first, so a secret that contains another is masked whole.
    values: Vec<String>,
}

impl Secrets {
    /// Empty values are ignored: masking "" would mask nothing, or everything.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Self { values }
    }

    /// The values of the variables the template lists in `sensitive-variables`.
    pub fn of_sensitive_variables(variables: &ResolvedVariables) -> Self {
        Self::new(
            variables
                .sensitive
                .iter()
                .filter_map(|name| variables.values.get(name).cloned()),
        )
    }

    /// `text` with every secret replaced by [`MASK`].
    pub fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.values {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), MASK);
            }
        }
        text
    }
}

/// Debug output ends up in logs: it shows how many secrets there are, never what they are.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_and_longer_secrets_first() {
        let secrets = Secrets::new(["pw".to_string(), "pw-long".to_string(), String::new()]);
        assert_eq!(
            secrets.mask("a pw-long b pw c"),
            "a <sensitive> b <sensitive> c"
        );
        assert_eq!(secrets.mask("nothing here"), "nothing here");
    }

    #[test]
    fn debug_output_hides_the_values() {
        assert_eq!(
            format!("{:?}", Secrets::new(["pw".to_string()])),
            "Secrets(1 values)"
        );
    }

    #[test]
    fn no_secrets_change_nothing() {
        assert_eq!(Secrets::default().mask("x"), "x");
    }
}
