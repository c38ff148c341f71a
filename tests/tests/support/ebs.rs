//! The peers of the amazon-ebs tests: a private moto EC2 API server, a private sshd standing in for the
//! instances (moto runs no machines), an EC2 client on the server, and the sshd's client key imported
//! as the instances' key pair. The queries several test files need are here; a test file adds its own
//! in its own `impl Peers` block (inherent methods of one name may exist once per test binary, so a
//! name here must not be one a test file defines).

use imgs_aws::ClientSettings;
use imgs_aws::sdk::Client;
use imgs_aws::sdk::types::{Filter, InstanceStateName};
use imgs_aws::test_moto::TestMoto;
use imgs_ssh::test_sshd::TestSshd;

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
        let settings = ClientSettings {
            access_key: Some("testing".into()),
            secret_key: Some("testing".into()),
            custom_endpoint_ec2: Some(moto.endpoint()),
            ..ClientSettings::new(REGION)
        };
        let ec2 = rt.block_on(settings.client(REGION));
        let public = std::fs::read_to_string(sshd.client_key.with_extension("pub")).unwrap();
        rt.block_on(
            ec2.import_key_pair()
                .key_name(key_pair)
                .public_key_material(imgs_aws::sdk::primitives::Blob::new(public))
                .send(),
        )
        .unwrap();
        Peers {
            moto,
            sshd,
            rt,
            ec2,
            key_pair: key_pair.to_string(),
        }
    }

    /// An EC2 client for `region` on the same server.
    pub fn client_in(&self, region: &str) -> Client {
        let settings = ClientSettings {
            access_key: Some("testing".into()),
            secret_key: Some("testing".into()),
            custom_endpoint_ec2: Some(self.moto.endpoint()),
            ..ClientSettings::new(region)
        };
        self.rt.block_on(settings.client(region))
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
        let ec2 = self.client_in(region);
        let instances = self
            .rt
            .block_on(ec2.describe_instances().send())
            .unwrap()
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum();
        let images = self
            .rt
            .block_on(ec2.describe_images().owners("self").send())
            .unwrap()
            .images()
            .len();
        (instances, images)
    }

    /// What a build must not leave behind in the build region: instances imgs launched that are not
    /// terminated, imgs's security groups and volumes, and key pairs other than the imported one.
    pub fn left_by_imgs(&self) -> Vec<String> {
        let imgs_tagged = || Filter::builder().name("tag-key").values("imgs:run").build();
        let instances = self
            .rt
            .block_on(self.ec2.describe_instances().filters(imgs_tagged()).send())
            .unwrap();
        let groups = self
            .rt
            .block_on(
                self.ec2
                    .describe_security_groups()
                    .filters(imgs_tagged())
                    .send(),
            )
            .unwrap();
        let keys = self
            .rt
            .block_on(self.ec2.describe_key_pairs().send())
            .unwrap();
        let volumes = self
            .rt
            .block_on(self.ec2.describe_volumes().filters(imgs_tagged()).send())
            .unwrap();
        let live = instances
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
            .map(|i| format!("instance {}", i.instance_id().unwrap_or_default()));
        let groups = groups
            .security_groups()
            .iter()
            .map(|g| format!("security group {}", g.group_id().unwrap_or_default()));
        let keys = keys
            .key_pairs()
            .iter()
            .filter(|k| k.key_name() != Some(self.key_pair.as_str()))
            .map(|k| format!("key pair {}", k.key_name().unwrap_or_default()));
        let volumes = volumes
            .volumes()
            .iter()
            .map(|v| format!("volume {}", v.volume_id().unwrap_or_default()));
        live.chain(groups).chain(keys).chain(volumes).collect()
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
        let images = self
            .rt
            .block_on(self.ec2.describe_images().owners("amazon").send())
            .unwrap();
        images
            .images()
            .iter()
            .find(|i| i.root_device_type().map(|t| t.as_str()) == Some("ebs"))
            .and_then(|i| i.image_id())
            .expect("moto ships public EBS-backed AMIs")
            .to_string()
    }
}

pub fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}
