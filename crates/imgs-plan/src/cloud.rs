//! The cloud cache as data: which AMIs EC2 holds for an image's current fingerprint (found by the
//! `imgs:fingerprint` tag), so `decide` can reuse an AMI another machine built and notice a record
//! whose AMI is gone. The caller asks EC2; this module only compares.

use imgs_cache::{BuildArtifact, CacheRecord};
use imgs_fingerprint::InputSet;

/// An available AMI tagged with the image's current fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CloudAmi {
    pub region: String,
    pub ami_id: String,
    /// The `imgs:run` tag: the run that built it (empty when untagged).
    pub run_id: String,
    /// EC2's creation date (RFC 3339; empty when EC2 gave none).
    pub created_at: String,
    /// Its `imgs:revoked` tag: why it was revoked.
    pub revoked: Option<String>,
}

/// One selected build whose artifacts live in a cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudBuild {
    /// Its name (rendered), as in records.
    pub name: String,
    /// Its builder type, as in records.
    pub builder_type: String,
    /// The regions its AMIs go to, build region first.
    pub regions: Vec<String>,
}

/// What EC2 answered for one image, with what the image needs from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudImages {
    /// Each selected build whose artifacts live in a cloud.
    pub builds: Vec<CloudBuild>,
    /// Whether the image has selected builds of other types, whose artifacts EC2 cannot vouch for.
    pub other_builds: bool,
    /// Every available AMI tagged with the current fingerprint, in every region asked.
    pub found: Vec<CloudAmi>,
}

impl CloudImages {
    /// The `(region, ami)` pairs of `record`'s AMIs that EC2 does not hold (any more) under this
    /// fingerprint: deregistered, or never tagged with it.
    pub fn gone(&self, record: &CacheRecord) -> Vec<(String, String)> {
        record
            .builds
            .iter()
            .flat_map(|b| ami_pairs(&b.artifact_id))
            .filter(|(region, ami)| {
                !self
                    .found
                    .iter()
                    .any(|f| &f.region == region && &f.ami_id == ami)
            })
            .collect()
    }

    /// The first of `record`'s AMIs that EC2 says is revoked: `region:ami-…` and the reason.
    pub fn revoked(&self, record: &CacheRecord) -> Option<(String, String)> {
        record
            .builds
            .iter()
            .flat_map(|b| ami_pairs(&b.artifact_id))
            .find_map(|(region, ami)| {
                let found = self
                    .found
                    .iter()
                    .find(|f| f.region == region && f.ami_id == ami)?;
                Some((format!("{region}:{ami}"), found.revoked.clone()?))
            })
    }

    /// A record made from the AMIs found, when they fully stand for the image's builds: one
    /// cloud build and nothing else (AMIs of several builds in one region carry the same tags
    /// and could not be told apart), with an AMI in every region it needs. With several AMIs in a
    /// region (two machines built the same inputs), the newest wins.
    pub fn record(&self, image: &str, inputs: &InputSet) -> Option<CacheRecord> {
        let [build] = self.builds.as_slice() else {
            return None;
        };
        let regions = &build.regions;
        if self.other_builds || regions.is_empty() {
            return None;
        }
        let mut chosen: Vec<&CloudAmi> = Vec::new();
        for region in regions {
            let newest = self
                .found
                .iter()
                .filter(|f| &f.region == region)
                .max_by(|a, b| (&a.created_at, &a.ami_id).cmp(&(&b.created_at, &b.ami_id)))?;
            chosen.push(newest);
        }
        let mut pairs: Vec<(&str, &str)> = chosen
            .iter()
            .map(|a| (a.region.as_str(), a.ami_id.as_str()))
            .collect();
        pairs.sort();
        let artifact_id = pairs
            .iter()
            .map(|(region, ami)| format!("{region}:{ami}"))
            .collect::<Vec<_>>()
            .join(",");
        let first = chosen[0];
        let mut record = CacheRecord::new(
            image,
            inputs.clone(),
            vec![BuildArtifact {
                name: build.name.clone(),
                builder_type: build.builder_type.clone(),
                artifact_id,
                files: Vec::new(),
            }],
            first.run_id.clone(),
        );
        if !first.created_at.is_empty() {
            record.created_at = first.created_at.clone();
        }
        Some(record)
    }
}

/// The `(region, ami-…)` pairs of an amazon-ebs artifact ID (`us-east-1:ami-1,us-west-2:ami-2`);
/// nothing for other artifacts.
pub fn ami_pairs(artifact_id: &str) -> Vec<(String, String)> {
    artifact_id
        .split(',')
        .filter_map(|pair| pair.split_once(':'))
        .filter(|(_, ami)| ami.starts_with("ami-"))
        .map(|(region, ami)| (region.to_string(), ami.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ami(region: &str, id: &str, created: &str) -> CloudAmi {
        CloudAmi {
            region: region.into(),
            ami_id: id.into(),
            run_id: "run-9".into(),
            created_at: created.into(),
            revoked: None,
        }
    }

    fn ebs_build(regions: &[&str]) -> CloudBuild {
        CloudBuild {
            name: "ebs".into(),
            builder_type: "amazon-ebs".into(),
            regions: regions.iter().map(ToString::to_string).collect(),
        }
    }

    fn ebs(regions: &[&str], found: Vec<CloudAmi>) -> CloudImages {
        CloudImages {
            builds: vec![ebs_build(regions)],
            other_builds: false,
            found,
        }
    }

    fn record_with(id: &str) -> CacheRecord {
        CacheRecord::new(
            "app",
            InputSet::new(),
            vec![BuildArtifact {
                name: "ebs".into(),
                builder_type: "amazon-ebs".into(),
                artifact_id: id.into(),
                files: vec![],
            }],
            "run-1",
        )
    }

    #[test]
    fn pairs_of_an_ami_artifact_only() {
        assert_eq!(
            ami_pairs("eu-west-1:ami-2,us-east-1:ami-1"),
            [
                ("eu-west-1".to_string(), "ami-2".to_string()),
                ("us-east-1".into(), "ami-1".into())
            ]
        );
        assert!(ami_pairs("cache/artifacts/base/base.qcow2").is_empty());
        assert!(ami_pairs("Null").is_empty());
    }

    #[test]
    fn a_record_is_made_only_when_every_region_has_an_ami() {
        let cloud = ebs(
            &["us-east-1", "eu-west-1"],
            vec![ami("us-east-1", "ami-1", "2026-01-01T00:00:00.000Z")],
        );
        assert_eq!(cloud.record("app", &InputSet::new()), None);
        let cloud = ebs(
            &["us-east-1", "eu-west-1"],
            vec![
                ami("us-east-1", "ami-1", "2026-01-01T00:00:00.000Z"),
                ami("eu-west-1", "ami-2", "2026-01-01T00:01:00.000Z"),
            ],
        );
        let record = cloud.record("app", &InputSet::new()).unwrap();
        assert_eq!(
            record.builds[0].artifact_id,
            "eu-west-1:ami-2,us-east-1:ami-1"
        );
        assert_eq!(record.run_id, "run-9");
        assert_eq!(record.created_at, "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn the_newest_of_two_amis_in_a_region_wins() {
        let cloud = ebs(
            &["us-east-1"],
            vec![
                ami("us-east-1", "ami-new", "2026-02-01T00:00:00.000Z"),
                ami("us-east-1", "ami-old", "2026-01-01T00:00:00.000Z"),
            ],
        );
        let record = cloud.record("app", &InputSet::new()).unwrap();
        assert_eq!(record.builds[0].artifact_id, "us-east-1:ami-new");
    }

    #[test]
    fn no_record_for_several_builds_or_other_builders() {
        let mut cloud = ebs(&["us-east-1"], vec![ami("us-east-1", "ami-1", "")]);
        cloud.other_builds = true;
        assert_eq!(cloud.record("app", &InputSet::new()), None);
        let mut cloud = ebs(&["us-east-1"], vec![ami("us-east-1", "ami-1", "")]);
        cloud.builds.push(CloudBuild {
            name: "second".into(),
            ..ebs_build(&["us-east-1"])
        });
        assert_eq!(cloud.record("app", &InputSet::new()), None);
    }

    #[test]
    fn a_revoked_ami_of_the_record_is_named_with_its_reason() {
        let mut revoked = ami("eu-west-1", "ami-2", "");
        revoked.revoked = Some("CVE-1".into());
        let cloud = ebs(
            &["us-east-1", "eu-west-1"],
            vec![ami("us-east-1", "ami-1", ""), revoked],
        );
        assert_eq!(
            cloud.revoked(&record_with("eu-west-1:ami-2,us-east-1:ami-1")),
            Some(("eu-west-1:ami-2".to_string(), "CVE-1".to_string()))
        );
        assert_eq!(cloud.revoked(&record_with("us-east-1:ami-1")), None);
    }

    #[test]
    fn gone_lists_the_record_amis_ec2_does_not_hold() {
        let cloud = ebs(
            &["us-east-1", "eu-west-1"],
            vec![ami("us-east-1", "ami-1", "")],
        );
        assert_eq!(
            cloud.gone(&record_with("eu-west-1:ami-2,us-east-1:ami-1")),
            [("eu-west-1".to_string(), "ami-2".to_string())]
        );
        assert!(cloud.gone(&record_with("us-east-1:ami-1")).is_empty());
    }
}
