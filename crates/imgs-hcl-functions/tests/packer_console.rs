//! Every expression of `expressions.txt`, evaluated by imgs and compared with what Packer 1.6.6's
//! `packer console` printed for it (`packer_console.txt`, re-recorded by `record.sh`): the same
//! value in Packer's REPL format, or an error where Packer gave one. Where imgs differs on
//! purpose the case is listed in `KNOWN_DIFFERENCES` with the reason.

use std::path::{Path, PathBuf};

use hcl::{Expression, Value};
use imgs_hcl_functions::{Host, context, evaluate, printable};

/// Expressions whose result differs from Packer's, and why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        r#"vault("secret/data/x", "key")"#,
        "imgs does not reach Vault; its error says so",
    ),
    (
        r#"consul_key("a")"#,
        "imgs does not reach Consul; its error says so",
    ),
    (
        r#"aws_secretsmanager("a", "b")"#,
        "imgs does not reach AWS Secrets Manager; its error says so",
    ),
    (
        r#"log(0, 10)"#,
        "cty has infinities (-Inf); hcl-rs numbers are finite, so imgs fails",
    ),
    (
        r#"log(8, 1)"#,
        "cty has infinities (+Inf); hcl-rs numbers are finite, so imgs fails",
    ),
    (
        r#"1 / 0"#,
        "cty has infinities (+Inf); hcl-rs numbers are finite, so imgs fails",
    ),
    (
        r#"can(1 / 0)"#,
        "1 / 0 is +Inf in cty and an error in imgs, so can() is false",
    ),
    (
        r#"try(1 / 0, "div")"#,
        "1 / 0 is +Inf in cty and an error in imgs, so try() falls back",
    ),
    (
        r#"yamldecode(".inf")"#,
        "cty has infinities (+Inf); imgs decodes .inf as null",
    ),
    (
        r#"jsondecode("[1,]")"#,
        "an error on both sides; serde_json words this syntax error differently from Go",
    ),
    (
        r#"yamldecode("[")"#,
        "an error on both sides; the YAML parser words it differently",
    ),
    (
        r#"yamldecode("a: b\n---\nc: d")"#,
        "an error on both sides; the YAML parser words it differently",
    ),
    (
        r#"yamldecode("yes")"#,
        "go-cty-yaml resolves YAML 1.1 booleans (yes/no/on/off/y/n); serde_norway is YAML 1.2",
    ),
    (
        r#"yamldecode("x: &a 1\ny: *a")"#,
        "go-cty-yaml reads the key `y` as the YAML 1.1 boolean true",
    ),
    (
        r#"yamldecode("0x10")"#,
        "go-cty-yaml keeps 0x10 a string; serde_norway reads a hexadecimal integer",
    ),
    (
        r#"yamldecode("2001-12-14")"#,
        "go-cty-yaml turns YAML timestamps into RFC 3339 strings",
    ),
    (
        r#"yamldecode("~")"#,
        "Packer gives an unknown value (<unknown>) for a null document; imgs gives null",
    ),
    (
        r#"yamldecode("null")"#,
        "Packer gives an unknown value (<unknown>) for a null document; imgs gives null",
    ),
    (
        r#"cidrsubnet("10.0.0.0/8", 2, -1)"#,
        "go-cidr's result for a negative subnet number is an artefact (0.64.0.0/10); imgs refuses it",
    ),
    (
        r#"try(local.nope)"#,
        "Packer lists each failed expression with its source position, which hcl-rs expressions lack",
    ),
    (
        r#"try(local.nope, local.also_nope)"#,
        "Packer lists each failed expression with its source position, which hcl-rs expressions lack",
    ),
    (
        r#"bcrypt("x", 3)"#,
        "a random salt: the unit tests verify bcrypt's hashes instead",
    ),
];

struct Fixture;

impl Host for Fixture {
    fn working_dir(&self) -> PathBuf {
        PathBuf::from("/nonexistent")
    }
    fn base_dir(&self) -> PathBuf {
        PathBuf::from("/nonexistent")
    }
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String> {
        Err(format!("no file at {}", path.display()))
    }
    fn is_file(&self, _: &Path) -> Result<bool, String> {
        Ok(false)
    }
    fn glob(&self, _: &Path, _: &str) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
    fn home_dir(&self) -> Option<PathBuf> {
        None
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::UNIX_EPOCH
    }
    fn uuid_v4(&self) -> String {
        "00000000-0000-4000-8000-000000000000".to_string()
    }
}

fn imgs_result(text: &str) -> Result<String, String> {
    let expr: Expression = text.parse().map_err(|e: hcl::Error| e.to_string())?;
    let mut ctx = context();
    ctx.declare_var("local", Value::Object(Default::default()));
    evaluate(&expr, &ctx, &Fixture)
        .map(|v| printable(&v))
        .map_err(|e| e.message)
}

/// Packer's printed error as `summary; detail`, white space collapsed; `None` for a panic inside
/// a function (Packer prints a Go stack trace: any error of ours agrees with it).
fn packer_error(printed: &str) -> Option<String> {
    let mut lines = printed.lines();
    let summary = lines.next()?.strip_prefix("Error: ")?.trim().to_string();
    let detail: Vec<&str> = lines
        .skip_while(|l| !l.contains("(source code not available)"))
        .skip(1)
        .take_while(|l| !l.starts_with("Error: "))
        .collect();
    let detail = collapse(&detail.join(" "));
    if detail.contains("panic in function implementation") {
        return None;
    }
    Some(format!("{summary}; {detail}"))
}

fn trim_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_string()
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn imgs_evaluates_as_packer_console_does() {
    let recorded = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/packer_console.txt"),
    )
    .expect("read packer_console.txt");
    let mut cases: Vec<(String, String)> = Vec::new();
    for line in recorded.lines() {
        if let Some(expr) = line.strip_prefix(">>> ") {
            cases.push((expr.to_string(), String::new()));
        } else if let Some((_, out)) = cases.last_mut() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
        }
    }
    assert!(cases.len() > 700, "{} cases", cases.len());
    let mut failures = Vec::new();
    let mut stale_known = Vec::new();
    for (expr, packer) in &cases {
        let packer = packer.trim_end();
        let ours = imgs_result(expr);
        let agrees = match (&ours, packer.starts_with("Error:")) {
            // The recording drops trailing white space of each line.
            (Ok(value), false) => trim_lines(value) == packer,
            (Err(message), true) => {
                packer_error(packer).is_none_or(|wanted| collapse(message) == wanted)
            }
            _ => false,
        };
        let known = KNOWN_DIFFERENCES.iter().any(|(e, _)| e == expr);
        if agrees && known {
            stale_known.push(expr.clone());
        }
        if !agrees && !known {
            let packer = if packer.starts_with("Error:") {
                packer_error(packer).unwrap_or_default()
            } else {
                packer.to_string()
            };
            failures.push(format!(
                ">>> {expr}\n  packer: {packer}\n  imgs:   {ours:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        stale_known.is_empty(),
        "listed as known differences but agree: {stale_known:?}"
    );
}
