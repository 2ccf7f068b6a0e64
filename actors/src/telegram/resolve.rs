//! Resolving a name the user typed (a strategy, a venue, a category) against the names that
//! exist: case-insensitive, with a "did you mean" list when nothing matches exactly.

/// What a typed name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<'a> {
    One(&'a str),
    /// No exact match; the closest names (best first), possibly empty.
    NotFound {
        suggestions: Vec<&'a str>,
    },
}

fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Resolves `typed` among `names`: only an exact case-insensitive match resolves. Prefixes
/// and typos become suggestions, never actions (`/stop btc` must not stop `btc-grid` on a
/// guess).
pub fn resolve<'a>(typed: &str, names: &[&'a str]) -> Resolved<'a> {
    let t = typed.trim().to_lowercase();
    if let Some(n) = names.iter().find(|n| n.to_lowercase() == t) {
        return Resolved::One(n);
    }
    let mut scored: Vec<(usize, &'a str)> = names
        .iter()
        .filter_map(|n| {
            let l = n.to_lowercase();
            let d = distance(&t, &l);
            let close = l.contains(&t) || t.contains(&l) || d <= (t.chars().count() / 3).max(2);
            close.then_some((if l.starts_with(&t) { 0 } else { d }, *n))
        })
        .collect();
    scored.sort();
    Resolved::NotFound {
        suggestions: scored.into_iter().take(3).map(|(_, n)| n).collect(),
    }
}

/// "Unknown strategy `x`. Did you mean: a, b?" (HTML-escaped).
pub fn not_found_message(what: &str, typed: &str, suggestions: &[&str], all: &[&str]) -> String {
    let typed = super::text::escape_html(typed);
    if !suggestions.is_empty() {
        let s: Vec<String> = suggestions
            .iter()
            .map(|s| format!("<code>{}</code>", super::text::escape_html(s)))
            .collect();
        format!(
            "No {what} named <b>{typed}</b>. Did you mean: {}?",
            s.join(", ")
        )
    } else if all.is_empty() {
        format!("No {what} named <b>{typed}</b> (there are none yet).")
    } else {
        let s: Vec<String> = all
            .iter()
            .take(10)
            .map(|s| format!("<code>{}</code>", super::text::escape_html(s)))
            .collect();
        format!("No {what} named <b>{typed}</b>. Known: {}.", s.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_ignores_case() {
        assert_eq!(
            resolve("BTC-Grid", &["btc-grid", "eth"]),
            Resolved::One("btc-grid")
        );
    }

    #[test]
    fn typos_and_prefixes_become_suggestions_not_actions() {
        let names = ["btc-grid", "btc-arb", "eth-threshold"];
        assert_eq!(
            resolve("btc-gird", &names),
            Resolved::NotFound {
                suggestions: vec!["btc-grid"]
            }
        );
        match resolve("btc", &names) {
            Resolved::NotFound { suggestions } => {
                assert_eq!(suggestions.len(), 2);
                assert!(suggestions.contains(&"btc-grid") && suggestions.contains(&"btc-arb"));
            }
            other => panic!("a prefix must not resolve: {other:?}"),
        }
        assert_eq!(
            resolve("zzzzzz", &names),
            Resolved::NotFound {
                suggestions: vec![]
            }
        );
    }
}
