//! The `converge` provisioner's settings, with Packer 1.6.6's defaults.

use imgs_diagnostic::Diagnostic;

use super::decode::Reader;
use super::{BuildContext, LocalPath, LocalRun};

#[derive(Clone, Debug)]
pub struct ConvergeSettings {
    /// Run `bootstrap_command` first (installs Converge).
    pub bootstrap: bool,
    pub bootstrap_command: String,
    pub version: String,
    pub prevent_bootstrap_sudo: bool,
    /// Each `source` uploaded to its `destination` as Packer's directory upload does (`exclude` has
    /// no effect over SSH, in Packer either).
    pub module_dirs: Vec<(LocalPath, String)>,
    pub module: String,
    pub working_directory: String,
    /// `params` as Go's `json.Marshal` writes a `map[string]string`: `.ParamsJSON`.
    pub params_json: String,
    pub execute_command: String,
    pub prevent_sudo: bool,
    pub run: LocalRun,
}

pub(super) fn read(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<ConvergeSettings, Vec<Diagnostic>> {
    let module = r.non_empty_string("module").ok_or_else(|| {
        vec![
            r.error(
                "module",
                "Converge requires a module to provision the system",
            )
            .hint("name the module `converge apply` runs"),
        ]
    })?;
    let mut module_dirs = Vec::new();
    if let Some(imgs_template::json::Value::Array(items)) = r.node("module_dirs").map(|n| &n.value)
    {
        for (i, item) in items.iter().enumerate() {
            let text = |key: &str| {
                imgs_template::schema::decoded_string(item, key, &|_| None).unwrap_or_default()
            };
            let (source, destination) = (text("source"), text("destination"));
            if source.is_empty() || destination.is_empty() {
                let which = if source.is_empty() {
                    "Source (\"source\" key)"
                } else {
                    "Destination (\"destination\" key)"
                };
                return Err(vec![r.error(
                    "module_dirs",
                    format!("{which} is required in Converge module dir #{i}"),
                )]);
            }
            module_dirs.push((LocalPath::new(&source, build.ctx.pwd), destination));
        }
    }
    let params = r.map("params").map_err(|d| vec![d])?;
    Ok(ConvergeSettings {
        bootstrap: r.bool("bootstrap"),
        bootstrap_command: r.non_empty_string("bootstrap_command").unwrap_or_else(|| {
            "curl -s https://get.converge.sh | {{if .Sudo}}sudo {{end}}sh \
             {{if ne .Version \"\"}}-s -- -v {{.Version}}{{end}}"
                .to_string()
        }),
        version: r.string("version").unwrap_or_default(),
        prevent_bootstrap_sudo: r.bool("prevent_bootstrap_sudo"),
        module_dirs,
        module,
        working_directory: r
            .non_empty_string("working_directory")
            .unwrap_or_else(|| "/tmp".to_string()),
        params_json: params_json(params),
        execute_command: r.non_empty_string("execute_command").unwrap_or_else(|| {
            "cd {{.WorkingDirectory}} && {{if .Sudo}}sudo {{end}}converge apply --local \
             --log-level=WARNING --paramsJSON '{{.ParamsJSON}}' {{.Module}}"
                .to_string()
        }),
        prevent_sudo: r.bool("prevent_sudo"),
        run: LocalRun::of(build),
    })
}

/// Compact JSON of string pairs, keys sorted, as Go writes a map (`null` for no map at all).
fn params_json(mut params: Vec<(String, String)>) -> String {
    if params.is_empty() {
        return "null".to_string();
    }
    params.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    params.dedup_by(|later, earlier| later.0 == earlier.0);
    let entries: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                super::chef::go_json_string(k),
                super::chef::go_json_string(v)
            )
        })
        .collect();
    format!("{{{}}}", entries.join(","))
}
