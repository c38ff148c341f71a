use super::*;

fn parse(text: &str) -> Result<Template, Diagnostics> {
    Template::parse(Path::new("images/app/template.json"), text.to_string())
}

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn reads_every_part() {
    let t = parse(
        r#"{
          "_comment": "app image",
          "description": "app",
          "min_packer_version": "1.6.0",
          "variables": {"region": "us-east-1", "source_ami": null},
          "sensitive-variables": ["source_ami"],
          "builders": [{"type": "null", "communicator": "none"}, {"type": "qemu", "name": "local"}],
          "provisioners": [{"type": "shell", "inline": ["true"], "only": "local", "pause_before": "5s",
                            "max_retries": 3, "override": {"local": {"inline": ["false"]}}}],
          "post-processors": ["manifest", [{"type": "compress", "name": "zip", "keep_input_artifact": true}, "checksum"]]
        }"#,
    )
    .unwrap();
    assert_eq!(t.dir, Path::new("images/app"));
    assert_eq!(t.comments["_comment"], "app image");
    assert_eq!(t.variables["region"].default.as_deref(), Some("us-east-1"));
    assert_eq!(t.variables["source_ami"].default, None);
    assert_eq!(t.sensitive_variables, ["source_ami"]);
    let names: Vec<_> = t
        .builders
        .iter()
        .map(|b| (b.name.as_str(), b.kind.as_str()))
        .collect();
    assert_eq!(names, [("null", "null"), ("local", "qemu")]);
    assert!(t.builders[1].config.get("name").is_none());
    let p = &t.provisioners[0];
    assert_eq!(p.only, ["local"]);
    assert_eq!(p.pause_before.as_deref(), Some("5s"));
    assert_eq!(
        p.pause_before_duration(),
        Some(std::time::Duration::from_secs(5))
    );
    assert_eq!(p.timeout_duration(), None);
    assert_eq!(p.max_retries, Some(3));
    assert!(p.config.get("only").is_none() && p.config.get("inline").is_some());
    assert!(p.overrides["local"].get("inline").is_some());
    assert!(p.applies_to("local") && !p.applies_to("null"));
    assert_eq!(t.post_processors.len(), 2);
    assert_eq!(t.post_processors[0][0].kind, "manifest");
    let zip = &t.post_processors[1][0];
    assert_eq!(
        (
            zip.name.as_str(),
            zip.kind.as_str(),
            zip.keep_input_artifact
        ),
        ("zip", "compress", Some(true))
    );
    let filter = BuildFilter {
        only: vec!["local".into()],
        except: vec![],
    };
    assert_eq!(t.builds(&filter).len(), 1);
}

#[test]
fn syntax_errors_are_located() {
    assert_eq!(
        errors("{\n  \"builders\": [],\n}"),
        [
            "error: invalid JSON: invalid character '}' looking for beginning of object key string\n  \
          --> images/app/template.json:3:1\n  \
          = hint: templates are strict JSON: no comments, no trailing commas, strings in double quotes"
        ]
    );
}

#[test]
fn top_level_keys_follow_packer() {
    // Case-insensitive match, as Packer's decoder does.
    assert!(parse(r#"{"Builders": [{"type": "null"}]}"#).is_ok());
    let e = errors(r#"{"builder": [], "_n": 1}"#);
    assert_eq!(e.len(), 2);
    assert!(
        e[0].contains("unknown top-level key `builder`")
            && e[0].contains("did you mean `builders`?")
    );
    assert!(e[1].contains("comment `_n` must be a string"));
    assert!(errors("[]")[0].contains("a template must be a JSON object, found array"));
    assert!(
        errors(r#"{"description": 5}"#)[0].contains("`description` must be a string, found number")
    );
}

#[test]
fn repeated_keys_anywhere_are_errors() {
    let e = errors("{\"builders\": [{\"type\": \"null\",\n \"type\": \"qemu\"}]}");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("`type` is set twice")
            && e[0].contains(":2:2")
            && e[0].contains("builders[0].type")
    );
}

#[test]
fn block_errors() {
    let e = errors(
        r#"{"variables": {"n": 5},
            "builders": [{"name": "x"}, {"type": "null"}, {"type": "null"}, 7],
            "provisioners": [{"type": "shell", "timeout": "5x"}, "shell"],
            "post-processors": [[["manifest"]], 5, {"type": "manifest", "only": "null"}]}"#,
    );
    let expected = [
        "the default of variable `n` must be a string or null, found number",
        "builder has no `type`",
        "two builders are named `null`",
        "`builders[3]` must be an object, found number",
        "invalid duration: time: unknown unit \"x\" in duration \"5x\"",
        "`provisioners[1]` must be an object, found string",
        "a post-processor chain cannot contain another chain",
        "`post-processors[1]` must be a post-processor name, object, or list of them",
        "`post-processors[2].only` must be an array, found string",
    ];
    assert_eq!(e.len(), expected.len(), "{e:#?}");
    for (got, want) in e.iter().zip(expected) {
        assert!(got.contains(want), "{got} does not contain {want}");
    }
}

#[test]
fn weak_decoding_of_builders_and_provisioners() {
    let t = parse(r#"{"builders": [{"type": "null", "name": 5}],
                      "provisioners": [{"type": "shell", "only": ["5"], "pause_before": 10, "max_retries": "{{user `n`}}"}]}"#)
    .unwrap();
    assert_eq!(t.builders[0].name, "5");
    assert_eq!(t.provisioners[0].pause_before.as_deref(), Some("10ns"));
    assert_eq!(
        t.provisioners[0].pause_before_duration(),
        Some(std::time::Duration::from_nanos(10))
    );
    assert_eq!(t.provisioners[0].max_retries, None);
    assert_eq!(
        t.provisioners[0].max_retries_text.as_deref(),
        Some("{{user `n`}}")
    );
}

#[test]
fn build_filters_apply_only_then_except() {
    let filter = BuildFilter {
        only: vec!["a".into(), "b".into()],
        except: vec!["b".into()],
    };
    assert!(filter.selects("a") && !filter.selects("b") && !filter.selects("c"));
    let filter = BuildFilter {
        only: vec![],
        except: vec!["b".into()],
    };
    assert!(filter.selects("a") && !filter.selects("b"));
    assert!(BuildFilter::default().selects("anything"));
}

#[test]
fn overrides_are_laid_over_like_packer_decodes_them() {
    let t = parse(
        r#"{"builders": [{"type": "null", "name": "a"}],
            "provisioners": [{"type": "shell", "inline": ["x", "y"], "env": {"A": "1"}, "script": "s.sh",
              "override": {"a": {"INLINE": ["z"], "env": {"B": "2"}, "script": null, "timeout": "5s"}}}]}"#,
    )
    .unwrap();
    let merged = t.provisioners[0].config_for("a").to_serde();
    assert_eq!(
        merged,
        serde_json::json!({"inline": ["z", "y"], "env": {"A": "1", "B": "2"}, "script": "s.sh", "timeout": "5s"})
    );
    assert_eq!(
        t.provisioners[0].config_for("other"),
        t.provisioners[0].config
    );
}

#[test]
fn template_dir_is_absolute_and_clean_like_packers() {
    let at = |path: &str| {
        Template::parse(
            Path::new(path),
            r#"{"builders": [{"type": "null"}]}"#.into(),
        )
        .unwrap()
        .template_dir(Path::new("/w/base0"))
    };
    // A bare file name used to give `/w/base0/`, and `{{template_dir}}/files/` a doubled slash.
    assert_eq!(at("template.json"), Path::new("/w/base0"));
    assert_eq!(at("./template.json"), Path::new("/w/base0"));
    assert_eq!(
        at("images/app/../web/t.json"),
        Path::new("/w/base0/images/web")
    );
    assert_eq!(at("/elsewhere/t.json"), Path::new("/elsewhere"));
}
