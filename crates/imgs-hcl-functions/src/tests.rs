use std::path::{Path, PathBuf};

use super::*;

struct Fixture;

impl Host for Fixture {
    fn working_dir(&self) -> PathBuf {
        PathBuf::from("/ws")
    }
    fn base_dir(&self) -> PathBuf {
        PathBuf::from("/ws")
    }
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String> {
        match path.to_str() {
            Some("/ws/hello.txt") => Ok(b"hello\n".to_vec()),
            _ => Err("not found".to_string()),
        }
    }
    fn is_file(&self, path: &Path) -> Result<bool, String> {
        Ok(path == Path::new("/ws/hello.txt"))
    }
    fn glob(&self, _: &Path, _: &str) -> Result<Vec<String>, String> {
        Ok(vec!["b.sh".to_string(), "a.sh".to_string()])
    }
    fn home_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from("/home/u"))
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2020-12-03T15:04:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }
    fn uuid_v4(&self) -> String {
        "00000000-0000-4000-8000-000000000000".to_string()
    }
}

pub(crate) fn eval(text: &str) -> Result<Value, String> {
    let expr: Expression = text.parse().map_err(|e: hcl::Error| e.to_string())?;
    let mut ctx = context();
    ctx.declare_var(
        "var",
        Value::Object(
            [("name".to_string(), Value::from("imgs"))]
                .into_iter()
                .collect(),
        ),
    );
    evaluate(&expr, &ctx, &Fixture).map_err(|e| e.message)
}

#[test]
fn smoke() {
    assert_eq!(eval(r#"upper("a")"#), Ok(Value::from("A")));
    assert_eq!(
        eval(r#"try(var.nope, "fallback")"#),
        Ok(Value::from("fallback"))
    );
    assert_eq!(eval(r#"can(var.nope)"#), Ok(Value::Bool(false)));
    assert_eq!(
        eval(r#""${upper(try(var.nope, "x"))}-y""#),
        Ok(Value::from("X-y"))
    );
    assert_eq!(eval(r#"file("hello.txt")"#), Ok(Value::from("hello\n")));
    assert_eq!(
        eval(r#"formatdate("YYYY-MM-DD hh:mm", timestamp())"#),
        Ok(Value::from("2020-12-03 15:04"))
    );
    assert_eq!(
        eval(r#"regex_replace(timestamp(), "[- TZ:]", "")"#),
        Ok(Value::from("20201203150405"))
    );
}
