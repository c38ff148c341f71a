use super::*;

/// Files for functions that read them: none here.
#[derive(Debug)]
struct NoFiles;

impl FileAccess for NoFiles {
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String> {
        Err(format!("no such file: {}", path.display()))
    }
    fn is_file(&self, _: &Path) -> Result<bool, String> {
        Ok(false)
    }
    fn glob(&self, _: &Path, _: &str) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
    fn uuid_v4(&self) -> String {
        "uuid".to_string()
    }
}

fn files(texts: &[(&str, &str)]) -> Vec<ConfigFile> {
    texts
        .iter()
        .map(|(name, text)| ConfigFile {
            path: PathBuf::from("images/app").join(name),
            text: text.to_string(),
        })
        .collect()
}

fn read_config(texts: &[(&str, &str)]) -> Result<Template, Diagnostics> {
    read(
        Path::new("images/app"),
        files(texts),
        Vec::new(),
        Arc::new(NoFiles),
        Path::new("/ws"),
    )
}

fn lowered(texts: &[(&str, &str)], cli: &[(&str, &str)]) -> Result<Template, Diagnostics> {
    let t = read_config(texts)?;
    let invocation = Invocation {
        cli_vars: cli
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Invocation::new("/ws", Volatile::Placeholder)
    };
    imgs_template::instantiate(&t, &invocation).map(|t| t.into_owned())
}

const TWO_SOURCES: &str = r#"
variable "region" {
  type    = string
  default = "eu-west-1"
}

locals {
  name   = "${local.prefix}-${var.region}"
  prefix = "app"
}

source "null" "first" {
  communicator = "none"
}

source "null" "second" {
  communicator = "none"
}

build {
  name    = "apps"
  sources = ["source.null.first", "source.null.second"]

  provisioner "shell-local" {
    only   = ["null.second"]
    inline = ["echo ${local.name} ${source.name} ${build.name}"]
  }

  post-processor "manifest" {
    output = "${source.name}.json"
  }
}
"#;

#[test]
fn builds_are_named_and_provisioners_follow_only_as_packer_does() {
    let t = lowered(&[("app.pkr.hcl", TWO_SOURCES)], &[]).unwrap();
    let names: Vec<&str> = t.builders.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["apps.null.first", "apps.null.second"]);
    assert_eq!(t.provisioners.len(), 1);
    assert_eq!(t.provisioners[0].only, ["apps.null.second"]);
    let inline = t.provisioners[0]
        .config
        .get("inline")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(inline[0].as_str(), Some("echo app-eu-west-1 second apps"));
    assert_eq!(t.post_processors.len(), 2);
    assert_eq!(
        t.post_processors[1][0]
            .config
            .get("output")
            .unwrap()
            .as_str(),
        Some("second.json")
    );
}

#[test]
fn a_var_on_the_command_line_reaches_locals() {
    let t = lowered(&[("app.pkr.hcl", TWO_SOURCES)], &[("region", "us-east-1")]).unwrap();
    let inline = t.provisioners[0]
        .config
        .get("inline")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(inline[0].as_str(), Some("echo app-us-east-1 second apps"));
    assert_eq!(t.variables["region"].default.as_deref(), Some("us-east-1"));
}

#[test]
fn errors_are_located_in_the_file_they_are_in() {
    let err = read_config(&[
        ("a.pkr.hcl", TWO_SOURCES),
        ("b.pkr.hcl", "\n\ndata \"amazon-ami\" \"x\" {}\n"),
    ])
    .unwrap_err();
    let d = &err.0[0];
    let at = d.location.as_ref().unwrap();
    assert_eq!(at.file, PathBuf::from("images/app/b.pkr.hcl"));
    assert_eq!((at.line, at.column), (Some(3), Some(1)));
    assert!(d.message.contains("`data`"), "{}", d.message);
}

#[test]
fn an_unset_variable_fails_lowering_but_not_reading() {
    let text = "variable \"ami\" {\n  type = string\n}\nsource \"null\" \"a\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\"]\n}\n";
    assert!(read_config(&[("a.pkr.hcl", text)]).is_ok());
    let err = lowered(&[("a.pkr.hcl", text)], &[]).unwrap_err();
    assert!(
        err.0[0].message.contains("Unset variable \"ami\""),
        "{err:?}"
    );
    assert!(lowered(&[("a.pkr.hcl", text)], &[("ami", "ami-1")]).is_ok());
}

#[test]
fn comments_layout_and_block_order_do_not_change_the_canonical_text() {
    let reordered = r#"
# the builds
build {
  sources = ["source.null.first", "source.null.second"]
  name = "apps"
  provisioner "shell-local" {
    inline = ["echo ${local.name} ${source.name} ${build.name}"]   // why
    only   = ["null.second"]
  }
  post-processor "manifest" { output = "${source.name}.json" }
}
source "null" "second" { communicator = "none" }
source "null" "first" {
  communicator   =   "none"
}
locals {
  prefix = "app"
  name   = "${local.prefix}-${var.region}"
}
variable "region" {
  default = "eu-west-1"
  type    = string
}
"#;
    let canonical = |text: &str| {
        read_config(&[("a.pkr.hcl", text)])
            .unwrap()
            .hcl
            .unwrap()
            .canonical()
    };
    assert_eq!(canonical(TWO_SOURCES), canonical(reordered));
    let changed = TWO_SOURCES.replace("echo ${local.name}", "echo ${local.prefix}");
    assert_ne!(canonical(TWO_SOURCES), canonical(&changed));
}
