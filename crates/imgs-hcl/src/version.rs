//! `packer { required_version = "…" }`: go-version constraints checked against 1.6.6.

/// Whether Packer 1.6.6 satisfies `constraint` (comma-separated `OP VERSION` terms, all of which
/// must hold; operators `=`, `!=`, `>`, `>=`, `<`, `<=`, `~>`).
pub(crate) fn satisfied_by_1_6_6(constraint: &str) -> Result<bool, String> {
    const CORE: [u64; 3] = [1, 6, 6];
    let mut all = true;
    for term in constraint.split(',') {
        let term = term.trim();
        let (op, rest) = ["~>", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| term.strip_prefix(op).map(|rest| (*op, rest)))
            .unwrap_or(("=", term));
        let text = rest.trim().trim_start_matches('v');
        let parts: Vec<&str> = text
            .split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(format!("malformed constraint: {term:?}"));
        }
        let mut version = [0u64; 3];
        for (i, part) in parts.iter().enumerate() {
            version[i] = part
                .parse()
                .map_err(|_| format!("malformed constraint: {term:?}"))?;
        }
        let holds = match op {
            "=" => CORE == version,
            "!=" => CORE != version,
            ">" => CORE > version,
            ">=" => CORE >= version,
            "<" => CORE < version,
            "<=" => CORE <= version,
            // Pessimistic: at least this version, below the next release of the last given segment but one.
            _ => {
                let significant = parts.len().max(2) - 1;
                CORE >= version && CORE[..significant] == version[..significant]
            }
        };
        all &= holds;
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::satisfied_by_1_6_6 as ok;

    #[test]
    fn constraints_hold_as_go_version_reads_them() {
        assert_eq!(ok(">= 1.5.0"), Ok(true));
        assert_eq!(ok(">= 1.7.0"), Ok(false));
        assert_eq!(ok(">= 1.5.0, < 2.0.0"), Ok(true));
        assert_eq!(ok("~> 1.6"), Ok(true));
        assert_eq!(ok("~> 1.6.0"), Ok(true));
        assert_eq!(ok("~> 1.5.0"), Ok(false));
        assert_eq!(ok("1.6.6"), Ok(true));
        assert_eq!(ok("!= 1.6.6"), Ok(false));
        assert!(ok(">= banana").is_err());
    }
}
