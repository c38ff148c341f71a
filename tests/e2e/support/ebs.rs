//! The peers of the amazon-ebs tests: a private moto EC2 API server, a private sshd standing in for the
//! instances (moto runs no machines), an EC2 client on the server, and the sshd's client key imported
//! as the instances' key pair. The queries several test modules need are here; a module adds its own
//! in its own `impl Peers` block (an inherent method's name may be used once in the whole binary, so
//! a module's names say what they are for).

use std::collections::BTreeMap;

use imgs_aws::sdk::Client;
use imgs_test_peers::ec2::{self, Leftovers, Runs, tag_filter};
use imgs_test_peers::{TestMoto, TestSshd};

pub const REGION: &str = "us-east-1";

pub struct Peers {
    pub moto: TestMoto,
    pub sshd: TestSshd,
    pub rt: tokio::runtime::Runtime,
    pub ec2: Client,
    /// The imported key pair: not something imgs made.
    pub key_pair: String,
}

/// One instance imgs launched for an image, as EC2 lists it.
#[derive(Debug, Clone)]
pub struct Launch {
    pub instance_id: String,
    /// The AMI it was launched from.
    pub source_ami: String,
    pub state: String,
}

impl Peers {
    /// Starts both servers and imports the sshd's client key as `key_pair`.
    pub fn start(key_pair: &str) -> Peers {
        let moto = TestMoto::start().unwrap_or_else(|why| panic!("{why}"));
        let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ec2 = rt.block_on(ec2::client(&moto.endpoint(), REGION));
        rt.block_on(ec2::import_key_pair(&ec2, key_pair, &sshd.client_key));
        Peers {
            moto,
            sshd,
            rt,
            ec2,
            key_pair: key_pair.to_string(),
        }
    }

    /// Every tag of `resource` in `region`.
    pub fn tags_in(&self, region: &str, resource: &str) -> BTreeMap<String, String> {
        let out = self
            .rt
            .block_on(
                self.client_in(region)
                    .describe_tags()
                    .filters(
                        imgs_aws::sdk::types::Filter::builder()
                            .name("resource-id")
                            .values(resource)
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
        out.tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// An EC2 client for `region` on the same server.
    pub fn client_in(&self, region: &str) -> Client {
        self.rt.block_on(ec2::client(&self.moto.endpoint(), region))
    }

    /// The settings of an amazon-ebs builder in `region` of this server, with the tests' credentials
    /// and instance type, then `extra`'s (an object; a key there replaces one here in place).
    pub fn ebs_settings(&self, region: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut block = serde_json::json!({
            "type": "amazon-ebs",
            "region": region,
            "access_key": ec2::CREDENTIALS,
            "secret_key": ec2::CREDENTIALS,
            "custom_endpoint_ec2": self.moto.endpoint(),
            "instance_type": "t3.micro",
        });
        let fields = block.as_object_mut().unwrap();
        fields.extend(
            extra
                .as_object()
                .expect("extra settings are an object")
                .clone(),
        );
        block
    }

    /// An amazon-ebs builder in the build region that launches from `source_ami` and connects to the
    /// sshd with the imported key pair (20 s to answer), with `extra`'s settings after those.
    pub fn ebs_builder(&self, source_ami: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut settings = serde_json::json!({ "source_ami": source_ami });
        let fields = settings.as_object_mut().unwrap();
        fields.extend(self.sshd.json_settings());
        fields.insert("ssh_keypair_name".into(), self.key_pair.clone().into());
        fields.insert("ssh_timeout".into(), "20s".into());
        fields.extend(
            extra
                .as_object()
                .expect("extra settings are an object")
                .clone(),
        );
        self.ebs_settings(REGION, settings)
    }

    /// The only AMI of `image` with `fingerprint` in the build region.
    pub fn only_ami(&self, image: &str, fingerprint: &str) -> String {
        let amis: Vec<String> = self
            .amis_of(REGION, image)
            .into_iter()
            .filter(|(_, fp)| fp == fingerprint)
            .map(|(ami, _)| ami)
            .collect();
        assert_eq!(amis.len(), 1, "{image}@{fingerprint}: {amis:?}");
        amis[0].clone()
    }

    /// `(AMI ID, imgs:fingerprint tag)` of every AMI imgs made for `image` in `region`, sorted.
    pub fn amis_of(&self, region: &str, image: &str) -> Vec<(String, String)> {
        let ec2 = self.client_in(region);
        let out = self
            .rt
            .block_on(
                ec2.describe_images()
                    .owners("self")
                    .filters(tag_filter("imgs:image", image))
                    .send(),
            )
            .unwrap();
        let mut amis: Vec<(String, String)> = out
            .images()
            .iter()
            .map(|i| {
                let fingerprint = i
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("imgs:fingerprint"))
                    .and_then(|t| t.value())
                    .unwrap_or_default();
                (
                    i.image_id().unwrap_or_default().to_string(),
                    fingerprint.to_string(),
                )
            })
            .collect();
        amis.sort();
        amis
    }

    /// Every instance imgs launched for `image` in `region`, terminated ones included (moto keeps them
    /// listed).
    pub fn launches_of(&self, region: &str, image: &str) -> Vec<Launch> {
        let ec2 = self.client_in(region);
        let out = self
            .rt
            .block_on(
                ec2.describe_instances()
                    .filters(tag_filter("imgs:image", image))
                    .send(),
            )
            .unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| Launch {
                instance_id: i.instance_id().unwrap_or_default().to_string(),
                source_ami: i.image_id().unwrap_or_default().to_string(),
                state: i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// The AMI each instance imgs launched for `image` in `region` was launched from.
    pub fn sources_of(&self, region: &str, image: &str) -> Vec<String> {
        self.launches_of(region, image)
            .into_iter()
            .map(|l| l.source_ami)
            .collect()
    }

    /// Every instance ever launched in `region` (terminated ones included) and every AMI of ours:
    /// what a build always adds to.
    pub fn footprint(&self, region: &str) -> (usize, usize) {
        self.rt.block_on(ec2::footprint(&self.client_in(region)))
    }

    /// What imgs runs left in the build region: every resource tagged with a run, and every key
    /// pair but the imported one.
    pub fn leftovers(&self) -> Leftovers {
        let runs = Runs::Every {
            keep_key_pair: &self.key_pair,
        };
        self.rt.block_on(Leftovers::of(&self.ec2, runs))
    }

    /// What a build must not leave behind in the build region: instances imgs launched that are not
    /// terminated, imgs's security groups and volumes, and key pairs other than the imported one.
    pub fn left_by_imgs(&self) -> Vec<String> {
        let left = self.leftovers();
        let mut all = left.instances.clone();
        all.extend(left.temporaries());
        all
    }

    /// The EC2 actions `run` caused that are not reads (`Describe*`), from moto's request recorder:
    /// what would have changed an account.
    pub fn ec2_writes_during<T>(&self, run: impl FnOnce() -> T) -> (T, Vec<String>) {
        self.moto
            .start_recording()
            .unwrap_or_else(|why| panic!("{why}"));
        let out = run();
        let actions = self
            .moto
            .recorded_actions()
            .unwrap_or_else(|why| panic!("{why}"));
        let writes = actions
            .into_iter()
            .filter(|a| !a.starts_with("Describe"))
            .collect();
        (out, writes)
    }

    /// One of the public EBS-backed AMIs moto ships, as a source.
    pub fn public_ami(&self) -> String {
        self.rt.block_on(ec2::public_ebs_ami(&self.ec2))
    }
}

/// `packer ARGS` in `dir` with an environment that holds nothing of the caller's (credentials, HOME,
/// instance metadata) beyond `env`, so no lookup leaves loopback; it must succeed.
pub fn packer_isolated(
    packer: &std::path::Path,
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(packer)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home.path())
        .env("CHECKPOINT_DISABLE", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .expect("run packer");
    assert!(
        out.status.success(),
        "packer build failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The credentials and region an isolated Packer talks to the test EC2 server with.
pub const PACKER_AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_DEFAULT_REGION", REGION),
];
