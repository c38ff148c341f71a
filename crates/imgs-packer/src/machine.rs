//! Packer's machine-readable output (`-machine-readable`): one record per line,
//! `TIMESTAMP,TARGET,TYPE,DATA...`, where commas inside a datum are written `%!(PACKER_COMMA)` and
//! line breaks `\n` (a literal backslash and `n`). The records imgs reads:
//!
//! - `ui` with `say`, `message` or `error`: what a person would have seen on the terminal;
//! - `artifact-count` and `artifact,N,...` (`builder-id`, `id`, `string`, `files-count`,
//!   `file,I,PATH`, `nil`, `end`): the artifacts of a successful build, target = the build's name;
//! - `error-count` and `error`: the builds that failed, with their error.

/// One record of machine-readable output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The build the record is about (empty for records about the whole run).
    pub target: String,
    /// `ui`, `artifact`, `artifact-count`, `error`, ...
    pub kind: String,
    /// The data, unescaped.
    pub data: Vec<String>,
}

/// One line of machine-readable output as a record; `None` for a line that is not one (Packer's
/// plugins may print to the same stream before the UI is set up).
pub fn parse_record(line: &str) -> Option<Record> {
    let mut fields = line.splitn(4, ',');
    let timestamp = fields.next()?;
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let target = fields.next()?.to_string();
    let kind = fields.next()?.to_string();
    let data = match fields.next() {
        Some(rest) => rest.split(',').map(unescape).collect(),
        None => Vec::new(),
    };
    Some(Record { target, kind, data })
}

fn unescape(datum: &str) -> String {
    let mut out = String::with_capacity(datum.len());
    let text = datum.replace("%!(PACKER_COMMA)", ",");
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('n') => {
                    chars.next();
                    out.push('\n');
                    continue;
                }
                Some('r') => {
                    chars.next();
                    out.push('\r');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// One artifact of a build, as Packer reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackerArtifact {
    /// Who made it: `mitchellh.amazonebs`, `transcend.qemu`, `packer.post-processor.compress`, ...
    pub builder_id: String,
    /// Its ID (`us-east-1:ami-…`, `VM`, empty for many post-processors).
    pub id: String,
    /// The sentence Packer prints for it.
    pub description: String,
    /// Its files, as Packer names them (relative to the directory it ran in, or absolute).
    pub files: Vec<String>,
}

/// Collects the artifacts of every build from the records of one run, in Packer's order (the
/// builder's own first when it was kept, then each post-processor chain's result).
#[derive(Debug, Default)]
pub struct Artifacts {
    builds: Vec<(String, Vec<Option<PackerArtifact>>)>,
}

impl Artifacts {
    /// Takes in one record; records that are not about artifacts are ignored.
    pub fn add(&mut self, record: &Record) {
        if record.kind != "artifact" {
            return;
        }
        let Some(index) = record.data.first().and_then(|i| i.parse::<usize>().ok()) else {
            return;
        };
        let list = match self
            .builds
            .iter_mut()
            .position(|(t, _)| *t == record.target)
        {
            Some(found) => &mut self.builds[found].1,
            None => {
                self.builds.push((record.target.clone(), Vec::new()));
                &mut self.builds.last_mut().expect("just pushed").1
            }
        };
        if list.len() <= index {
            list.resize(index + 1, None);
        }
        let field = record.data.get(1).map(String::as_str).unwrap_or_default();
        let value = record.data.get(2).cloned().unwrap_or_default();
        // `nil` (a post-processor that made nothing), `end` and `files-count` carry nothing to keep.
        if !matches!(field, "builder-id" | "id" | "string" | "file") {
            return;
        }
        let artifact = list[index].get_or_insert_with(PackerArtifact::default);
        match field {
            "builder-id" => artifact.builder_id = value,
            "id" => artifact.id = value,
            "string" => artifact.description = value,
            // `file,I,PATH`: a path may hold commas, which the escaping kept in one datum.
            _ => artifact
                .files
                .push(record.data.get(3).cloned().unwrap_or_default()),
        }
    }

    /// The artifacts of the build named `target`, in Packer's order (`nil` ones left out).
    pub fn of(&self, target: &str) -> Vec<PackerArtifact> {
        self.builds
            .iter()
            .find(|(t, _)| t == target)
            .map(|(_, list)| list.iter().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// The names of the builds that reported artifacts.
    pub fn targets(&self) -> Vec<&str> {
        self.builds.iter().map(|(t, _)| t.as_str()).collect()
    }
}

/// What a `ui` record says, for the log: the text with Packer's line breaks, split into lines.
pub fn ui_lines(record: &Record) -> Option<Vec<String>> {
    if record.kind != "ui" {
        return None;
    }
    let text = record.data.get(1)?;
    Some(
        text.trim_end_matches('\n')
            .split('\n')
            .map(|line| line.trim_end_matches('\r').to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_split_and_unescaped() {
        let r = parse_record("1796357119,,ui,message,    b: hello%!(PACKER_COMMA) world").unwrap();
        assert_eq!(r.target, "");
        assert_eq!(r.kind, "ui");
        assert_eq!(r.data, vec!["message", "    b: hello, world"]);
        let r = parse_record("1796357119,,ui,say,\\n==> Builds finished.").unwrap();
        assert_eq!(ui_lines(&r).unwrap(), vec!["", "==> Builds finished."]);
        assert_eq!(parse_record("plugin noise"), None);
        assert_eq!(parse_record(""), None);
    }

    #[test]
    fn artifacts_are_collected_per_build_in_order() {
        let lines = "\
1,b,artifact-count,3
1,b,artifact,0,builder-id,packer.file
1,b,artifact,0,id,File
1,b,artifact,0,string,Stored file: out/f.txt
1,b,artifact,0,files-count,1
1,b,artifact,0,file,0,out/f.txt
1,b,artifact,0,end
1,b,artifact,1,nil
1,b,artifact,1,end
1,b,artifact,2,builder-id,packer.post-processor.checksum
1,b,artifact,2,id,
1,b,artifact,2,string,Created artifact from files: out/f.txt%!(PACKER_COMMA) out/sum
1,b,artifact,2,files-count,2
1,b,artifact,2,file,0,out/a%!(PACKER_COMMA)b.txt
1,b,artifact,2,file,1,out/sum
1,b,artifact,2,end
1,a,artifact,0,id,us-east-1:ami-1";
        let mut artifacts = Artifacts::default();
        for line in lines.lines() {
            artifacts.add(&parse_record(line).unwrap());
        }
        let b = artifacts.of("b");
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].builder_id, "packer.file");
        assert_eq!(b[0].files, vec!["out/f.txt"]);
        assert_eq!(
            b[1].description,
            "Created artifact from files: out/f.txt, out/sum"
        );
        assert_eq!(b[1].files, vec!["out/a,b.txt", "out/sum"]);
        assert_eq!(artifacts.of("a")[0].id, "us-east-1:ami-1");
        assert_eq!(artifacts.targets(), vec!["b", "a"]);
        assert!(artifacts.of("c").is_empty());
    }
}
