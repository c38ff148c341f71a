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

fn ok(text: &str) -> Value {
    match eval(text) {
        Ok(v) => v,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn err(text: &str) -> String {
    match eval(text) {
        Ok(v) => panic!("{text} gave {v:?}"),
        Err(e) => e,
    }
}

#[test]
fn host_functions_go_through_the_host() {
    assert_eq!(ok(r#"fileexists("hello.txt")"#), Value::Bool(true));
    assert_eq!(ok(r#"fileexists("/elsewhere")"#), Value::Bool(false));
    assert_eq!(
        err(r#"file("missing.txt")"#),
        "Error in function call; Call to function \"file\" failed: no file exists at missing.txt."
    );
    assert_eq!(
        ok(r#"fileset(".", "*.sh")"#),
        hcl::value!(["a.sh", "b.sh"]),
        "sorted, as cty's sets are"
    );
    assert_eq!(ok(r#"abspath("x/../y/./z")"#), Value::from("/ws/y/z"));
    assert_eq!(ok(r#"pathexpand("~/.ssh")"#), Value::from("/home/u/.ssh"));
    assert_eq!(ok(r#"pathexpand("~user/x")"#), Value::from("~user/x"));
    assert_eq!(ok("timestamp()"), Value::from("2020-12-03T15:04:05Z"));
    assert_eq!(
        ok("uuidv4()"),
        Value::from("00000000-0000-4000-8000-000000000000")
    );
    assert_eq!(ok(r#"upper(file("hello.txt"))"#), Value::from("HELLO\n"));
}

#[test]
fn bcrypt_hashes_verify() {
    let Value::String(hash) = ok(r#"bcrypt("secret", 4)"#) else {
        panic!("bcrypt gives a string");
    };
    assert!(hash.starts_with("$2a$04$"), "{hash}");
    assert!(matches!(::bcrypt::verify("secret", &hash), Ok(true)));
    assert!(matches!(::bcrypt::verify("other", &hash), Ok(false)));
    let Value::String(default_cost) = ok(r#"bcrypt("secret")"#) else {
        panic!("bcrypt gives a string");
    };
    assert!(default_cost.starts_with("$2a$10$"), "{default_cost}");
}

#[test]
fn try_and_can_are_lazy_wherever_they_are() {
    assert_eq!(
        ok(r#"[for s in ["a", "b"] : try(var.missing[s], upper(s))]"#),
        hcl::value!(["A", "B"])
    );
    assert_eq!(
        ok(r#"{for k, v in {a = "1", b = "x"} : k => can(parseint(v, 10))}"#),
        hcl::value!({ a = true, b = false })
    );
    assert_eq!(
        ok(r#"true ? "ok" : upper(var.missing)"#),
        Value::from("ok"),
        "the branch not taken is not evaluated"
    );
    assert_eq!(ok(r#"length(try(var.missing, [])) + 1"#), Value::from(1));
    assert_eq!(
        ok(r#""%{if can(var.missing)}yes%{else}no%{endif}""#),
        Value::from("no")
    );
    assert_eq!(
        ok(r#""%{for x in ["a", "b"]}${upper(x)}%{endfor}""#),
        Value::from("AB"),
        "calls in %{{for}} bodies go through hcl-rs"
    );
    assert_eq!(
        ok(r#"concat(["a"], [for s in ["b"] : s])"#),
        hcl::value!(["a", "b"])
    );
    assert_eq!(ok(r#"max([3, 9, 2]...)"#), Value::from(9));
}

#[test]
fn errors_read_as_packers() {
    assert_eq!(
        err("nope(1)"),
        "Call to unknown function; There is no function named \"nope\"."
    );
    assert_eq!(
        err("regexall(\"a\", \"a\")"),
        "Call to unknown function; There is no function named \"regexall\"."
    );
    assert_eq!(
        err(r#"upper("a", "b")"#),
        "Too many function arguments; Function \"upper\" expects only 1 argument(s)."
    );
    assert_eq!(
        err(r#"lookup({a = 1}, "a")"#),
        "Not enough function arguments; Function \"lookup\" expects 3 argument(s). Missing value for \"default\"."
    );
    assert_eq!(
        err(r#"upper(["a"])"#),
        "Invalid function argument; Invalid value for \"str\" parameter: string required."
    );
    assert!(err("var.missing").starts_with("Unsupported attribute;"));
    assert!(err(r#"vault("a", "b")"#).contains("imgs does not reach Vault"));
}

#[test]
fn arithmetic_is_decimal_and_never_panics() {
    assert_eq!(ok("0.1 + 0.2"), Value::from(0.3));
    assert_eq!(ok("1.1 * 3"), Value::from(3.3));
    assert_eq!(
        ok("9223372036854775807 + 1"),
        Value::from(9_223_372_036_854_775_808.0)
    );
    assert_eq!(ok(r#""2" * 3"#), Value::from(6));
    assert!(err("1 / 0").starts_with("Operation failed;"));
    assert_eq!(ok("5 % 0"), Value::from(5), "as cty computes it");
}

/// Found by fuzzing (`hcl_expression`): `format("%8.3f|%-8.73222f|", 3.14, 2.5)` panicked
/// ("Formatting argument out of range"): Go takes precisions up to a million, Rust's formatter
/// only up to 65535. Digits past an f64's exact expansion are zeros, as Go prints them.
#[test]
fn format_takes_go_precisions_past_rusts() {
    let Value::String(text) = ok(r#"format("%8.3f|%-8.73222f|", 3.14, 2.5)"#) else {
        panic!("format gives a string");
    };
    assert_eq!(text.len(), "   3.140|2.".len() + 73222 + "|".len());
    assert!(text.starts_with("   3.140|2.5000") && text.ends_with("000|"));
    let Value::String(text) = ok(r#"format("%.70000e", 1.5)"#) else {
        panic!("format gives a string");
    };
    assert!(text.starts_with("1.5000") && text.ends_with("0e+00"));
    assert_eq!(text.len(), "1.".len() + 70000 + "e+00".len());
    assert_eq!(
        ok(r#"format("%.70000g", 0.1)"#),
        Value::from("0.1000000000000000055511151231257827021181583404541015625")
    );
    assert_eq!(
        ok(r#"format("%.3f %.0f %.2e", 2.0, 2.5, 1234.5)"#),
        Value::from("2.000 2 1.23e+03")
    );
}

#[test]
fn type_constraints_and_conversions() {
    let ty = |text: &str| type_constraint(&text.parse::<Expression>().unwrap());
    assert_eq!(
        ty("list(string)"),
        Ok(TypeConstraint::List(Box::new(TypeConstraint::String)))
    );
    assert_eq!(
        ty("map"),
        Ok(TypeConstraint::Map(Box::new(TypeConstraint::Any)))
    );
    assert_eq!(
        ty("object({b = number, a = list(bool)})"),
        Ok(TypeConstraint::Object(vec![
            (
                "a".to_string(),
                TypeConstraint::List(Box::new(TypeConstraint::Bool))
            ),
            ("b".to_string(), TypeConstraint::Number),
        ]))
    );
    assert_eq!(
        ty("tuple([string, number])"),
        Ok(TypeConstraint::Tuple(vec![
            TypeConstraint::String,
            TypeConstraint::Number
        ]))
    );
    assert_eq!(
        ty("strin"),
        Err("The keyword \"strin\" is not a valid type specification.".to_string())
    );
    assert!(ty("list(string, number)").is_err());
    assert!(ty("\"string\"").is_err());
    let object = ty("object({a = string, b = number})").unwrap();
    assert_eq!(
        convert(&hcl::value!({ a = 1 }), &object),
        Err("attribute \"b\" is required".to_string())
    );
    assert_eq!(
        convert(&hcl::value!({ a = 1, b = "2", c = true }), &object),
        Ok(hcl::value!({ a = "1", b = 2 }))
    );
    assert_eq!(
        convert(&hcl::value!(["b", 1, "b"]), &ty("set(string)").unwrap()),
        Ok(hcl::value!(["1", "b"]))
    );
    assert_eq!(
        convert(&Value::from("x"), &TypeConstraint::Number),
        Err("a number is required".to_string())
    );
    assert_eq!(
        convert(&Value::from("true"), &TypeConstraint::Bool),
        Ok(Value::Bool(true))
    );
}

#[test]
fn every_function_of_packer_1_6_6_is_there() {
    assert_eq!(function_names().count(), 85);
    for name in [
        "regex",
        "regexall",
        "tostring",
        "templatefile",
        "sum",
        "alltrue",
    ] {
        assert!(function_names().all(|n| n != name), "{name}");
    }
}

#[test]
fn templates_keep_their_text_when_calls_are_replaced() {
    let body: hcl::Body =
        hcl::parse("x = <<EOT\nline ${upper(\"a\")}\n  \"q\" $${x} %%{y}\nEOT\n").unwrap();
    let heredoc = body.attributes().next().unwrap().expr.clone();
    assert_eq!(
        evaluate(&heredoc, &context(), &Fixture),
        Ok(Value::from("line A\n  \"q\" ${x} %{y}\n"))
    );
    assert_eq!(
        ok(r#""${lower("A\"$${")} and ${jsonencode({a = "b"})}""#),
        Value::from("a\"${ and {\"a\":\"b\"}")
    );
    assert_eq!(ok(r#""x ${~ upper("y") ~} z""#), Value::from("xYz"));
}
