//! The IAM inventories: every request the local IAM decided, one line each
//! (`principal action resource key=value…`), with the ids that differ between runs replaced by
//! placeholders. `tests/data/iam-calls.txt` holds the functions' (tests/tests/iam.rs);
//! `tests/data/operator-calls/<test>.txt` the operator CLI's, each written by the CLI test that
//! made the calls (`UPDATE_IAM_INVENTORY=1`). A grant of the stack no line uses must be
//! justified in the template.

/// A request as the inventory keeps it: ids that differ between runs replaced by placeholders.
pub fn line(record: &iam::account::Record) -> String {
    let mut out = format!(
        "{} {} {}",
        record.principal,
        record.action,
        normalize(&record.resource)
    );
    for context in &record.context {
        out.push(' ');
        out.push_str(&normalize(context));
    }
    out
}

pub fn normalize(text: &str) -> String {
    let task = regex_lite::Regex::new(r"export-ami-[0-9a-f]+").unwrap();
    let ami = regex_lite::Regex::new(r"\bami-[0-9a-f]+").unwrap();
    let distribution = regex_lite::Regex::new(r"distribution/[A-Z0-9]+").unwrap();
    // Build numbers depend on which of the racing paths (event, reconciler) got there first.
    let build =
        regex_lite::Regex::new(r"(:image/[a-z0-9-_]+/[0-9]+\.[0-9]+\.[0-9]+)/[0-9]+").unwrap();
    // The history page of the month the test ran in.
    let month =
        regex_lite::Regex::new(r"(catalog/history/[A-Za-z0-9-]+)/[0-9]{4}-[0-9]{2}\.").unwrap();
    let text = month.replace_all(text, "$1/MONTH.");
    let text = task.replace_all(&text, "export-ami-TASK");
    let text = ami.replace_all(&text, "ami-AMI");
    let text = build.replace_all(&text, "$1/BUILD");
    distribution
        .replace_all(&text, "distribution/DISTRIBUTION")
        .into_owned()
}

/// The operators' inventory: one file per CLI test.
pub const OPERATOR_INVENTORY: &str = "tests/data/operator-calls";

/// Writes `test`'s file of the operators' inventory (with `UPDATE_IAM_INVENTORY` set): every
/// allowed request of an operator principal among `records`, sorted and deduplicated.
pub fn record_operator_calls(test: &str, records: &[iam::account::Record]) {
    if std::env::var_os("UPDATE_IAM_INVENTORY").is_none() {
        return;
    }
    let operators: Vec<&str> = crate::stack::OPERATORS.iter().map(|o| o.role).collect();
    let mut lines: Vec<String> = records
        .iter()
        .filter(|r| r.allowed && operators.contains(&r.principal.as_str()))
        .map(line)
        .collect();
    lines.sort();
    lines.dedup();
    let dir = crate::workspace_root().join(OPERATOR_INVENTORY);
    let _ = std::fs::create_dir_all(&dir);
    let text = format!(
        "# The operator CLI's requests in {test} (UPDATE_IAM_INVENTORY=1 rewrites it).\n{}\n",
        lines.join("\n")
    );
    std::fs::write(dir.join(format!("{test}.txt")), text)
        .unwrap_or_else(|e| panic!("{OPERATOR_INVENTORY}/{test}.txt: {e}"));
}

/// Every line of the operators' inventory (all its files).
pub fn operator_lines() -> Vec<String> {
    let dir = crate::workspace_root().join(OPERATOR_INVENTORY);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| {
            t.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}
