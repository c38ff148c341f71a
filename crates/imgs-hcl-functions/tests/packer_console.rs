//! Every expression of `expressions.txt`, evaluated by imgs and compared with what Packer 1.6.6's
//! `packer console` printed for it (`packer_console.txt`, re-recorded by `record.sh`): the same
//! value in Packer's REPL format, or an error where Packer gave one. Where imgs differs on
//! purpose the case is listed in `KNOWN_DIFFERENCES` with the reason.

use std::path::{Path, PathBuf};

use hcl::{Expression, Value};
use imgs_hcl_functions::{Host, context, evaluate, printable};

/// Expressions whose result differs from Packer's, and why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

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
    assert!(cases.len() > 100, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (expr, packer) in &cases {
        let packer = packer.trim_end();
        let packer_failed = packer.starts_with("Error:");
        let known = KNOWN_DIFFERENCES.iter().any(|(e, _)| e == expr);
        let agrees = match imgs_result(expr) {
            Ok(value) => !packer_failed && value.trim_end() == packer,
            Err(_) => packer_failed,
        };
        if !agrees && !known {
            failures.push(format!(
                ">>> {expr}\n  packer: {packer}\n  imgs:   {:?}",
                imgs_result(expr)
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
}
