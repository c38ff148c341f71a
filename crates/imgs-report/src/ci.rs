//! `imgs ci github`: a GitHub Actions workflow that builds the workspace wave by wave, each wave's
//! shards on runners of their own (`imgs build --wave W --shard K/N`), each wave after the one before.
//!
//! Written as text, not through a YAML serializer: the layout (comments, key order, `${{ }}`
//! expressions left unquoted where GitHub reads them) is part of what people review. The one value
//! from outside, the install command, is written as a JSON string, which YAML reads as the same
//! double-quoted string.

/// The workflow's shape: how many waves the workspace has, the images of each, and the shards.
#[derive(Clone, Debug)]
pub struct GithubWorkflow<'a> {
    /// Images per wave, wave 0 first.
    pub wave_sizes: &'a [usize],
    /// N of `--shard K/N`.
    pub shards: usize,
    /// The command of the step that installs imgs.
    pub install: &'a str,
}

/// The workflow, as YAML. A wave with fewer images than shards gets only the shards that hold some
/// (shards are filled from 1), so no runner starts to build nothing.
pub fn render_github_workflow(workflow: &GithubWorkflow<'_>) -> String {
    let n = workflow.shards.max(1);
    let waves = workflow.wave_sizes.len();
    let mut out = String::new();
    out.push_str(&format!(
        "# Made by `imgs ci github --shards {n}`: {waves} wave{}, each over at most {n} shard{}.\n",
        if waves == 1 { "" } else { "s" },
        if n == 1 { "" } else { "s" },
    ));
    out.push_str(
        "# Each wave's jobs find the images of earlier waves fresh, by their imgs:fingerprint tag on\n\
         # EC2 or in the remote cache ([workspace.cache] in Images.toml). Make it again when images\n\
         # are added or their parents change: the waves come from Images.toml. Commit Images.lock:\n\
         # the builds run with --locked.\n",
    );
    out.push_str(
        "name: imgs\n\
         on:\n  push:\n    branches: [main]\n  workflow_dispatch:\n\
         env:\n\
         \x20 AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}\n\
         \x20 AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n\
         \x20 CI: \"true\"\n\
         jobs:\n",
    );
    if waves == 0 {
        out.push_str("  # The workspace has no image: nothing to build.\n  {}\n");
        return out;
    }
    for (wave, &size) in workflow.wave_sizes.iter().enumerate() {
        let used = size.clamp(1, n);
        let matrix: Vec<String> = (1..=used).map(|k| k.to_string()).collect();
        out.push_str(&format!("  wave-{wave}:\n"));
        out.push_str(&format!(
            "    name: wave {wave} (shard ${{{{ matrix.shard }}}}/{n})\n"
        ));
        if wave > 0 {
            out.push_str(&format!("    needs: wave-{}\n", wave - 1));
        }
        out.push_str("    runs-on: ubuntu-latest\n");
        out.push_str(&format!(
            "    strategy:\n      # The other shards of the wave finish what they started.\n      \
             fail-fast: false\n      matrix:\n        shard: [{}]\n",
            matrix.join(", ")
        ));
        out.push_str("    steps:\n      - uses: actions/checkout@v4\n");
        out.push_str(&format!(
            "      - name: Install imgs\n        run: {}\n",
            serde_json::Value::from(workflow.install)
        ));
        // --locked: every runner must compute the same fingerprints, so none may lock a missing
        // Images.lock entry itself (it could pick another AMI than its neighbour did).
        out.push_str(&format!(
            "      - name: Build wave {wave}, shard ${{{{ matrix.shard }}}}/{n}\n        run: imgs \
             build --wave {wave} --shard ${{{{ matrix.shard }}}}/{n} --locked --message-format json\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wave_smaller_than_the_shards_gets_only_the_shards_that_hold_images() {
        let text = render_github_workflow(&GithubWorkflow {
            wave_sizes: &[1, 3, 9],
            shards: 3,
            install: "cargo install --locked imgs",
        });
        assert!(text.contains("  wave-0:\n"));
        assert!(text.contains("        shard: [1]\n"));
        assert!(text.contains("        shard: [1, 2, 3]\n"));
        assert!(text.contains("    needs: wave-1\n"));
        assert!(!text.contains("wave-3"));
        assert!(text.contains(
            "run: imgs build --wave 2 --shard ${{ matrix.shard }}/3 --locked --message-format json"
        ));
    }
}
