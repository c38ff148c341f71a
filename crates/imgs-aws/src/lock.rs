//! Source AMIs for Images.lock: a `source_ami_filter` as one stable line (what the lock records as
//! asked, so a changed filter is noticed), and the AMI it resolves to now, found exactly as a
//! build's launch finds it.

use crate::config::{SourceAmi, SourceAmiFilter};
use crate::{AwsError, ClientSettings};

/// The filter as one line, filters sorted by name, owners as given: `name=debian-* owners=self
/// most_recent=true`.
pub fn filter_spec(filter: &SourceAmiFilter) -> String {
    format!(
        "{} most_recent={}",
        crate::source::describe_filter(filter),
        filter.most_recent
    )
    .trim_start()
    .to_string()
}

/// The AMI `filter` picks in `settings.region` now (none, or several without `most_recent`, is
/// the error a build would meet).
pub async fn resolve_source_ami(
    settings: &ClientSettings,
    filter: &SourceAmiFilter,
) -> Result<String, AwsError> {
    let client = settings.client(&settings.region).await;
    let found = crate::source::resolve(&client, &SourceAmi::Filter(filter.clone())).await?;
    Ok(found.id)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_spec_is_sorted_and_says_everything_asked() {
        let filter = SourceAmiFilter {
            filters: BTreeMap::from([
                ("root-device-type".to_string(), "ebs".to_string()),
                ("name".to_string(), "debian-*".to_string()),
            ]),
            owners: vec!["self".into(), "123".into()],
            most_recent: true,
        };
        assert_eq!(
            filter_spec(&filter),
            "name=debian-* root-device-type=ebs owners=self,123 most_recent=true"
        );
    }
}
