//! The peers of the amazon-ebs tests: a private moto EC2 API server, a private sshd standing in for the
//! instances (moto runs no machines), an EC2 client on the server, and the sshd's client key imported
//! as the instances' key pair. Test files add their own queries in their own `impl Peers` blocks.

use imgs_aws::ClientSettings;
use imgs_aws::sdk::Client;
use imgs_aws::test_moto::TestMoto;
use imgs_ssh::test_sshd::TestSshd;

pub const REGION: &str = "us-east-1";

pub struct Peers {
    pub moto: TestMoto,
    pub sshd: TestSshd,
    pub rt: tokio::runtime::Runtime,
    pub ec2: Client,
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
        }
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
