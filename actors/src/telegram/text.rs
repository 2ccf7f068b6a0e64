//! Text for the Bot API: HTML escaping and splitting long replies.
//!
//! Telegram refuses a message over 4096 characters (counted after entity parsing, in UTF-16
//! code units). Replies are split on line boundaries so a table row or an HTML tag that opens
//! and closes on one line is never cut; only a single line longer than the limit is cut, at a
//! character boundary.

/// The Bot API's limit for one message's text.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Escapes text for `parse_mode = HTML`: only `&`, `<` and `>` need it (Bot API docs).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Splits `text` into messages of at most `max` UTF-16 units, on line boundaries.
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in text.split('\n') {
        let line_len = utf16_len(line);
        // +1 for the newline joining it to what is already there.
        let joined = if current.is_empty() {
            line_len
        } else {
            current_len + 1 + line_len
        };
        if joined <= max {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(line);
            current_len = joined;
            continue;
        }
        if !current.is_empty() {
            parts.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if line_len <= max {
            current.push_str(line);
            current_len = line_len;
            continue;
        }
        // One line longer than a message: cut it at character boundaries.
        for c in line.chars() {
            if current_len + c.len_utf16() > max {
                parts.push(std::mem::take(&mut current));
                current_len = 0;
            }
            current.push(c);
            current_len += c.len_utf16();
        }
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts.retain(|p| !p.trim().is_empty());
    if parts.is_empty() {
        parts.push(String::from("(empty)"));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_what_html_mode_needs() {
        assert_eq!(
            escape_html("a < b && c > \"d\""),
            "a &lt; b &amp;&amp; c &gt; \"d\""
        );
    }

    #[test]
    fn short_text_is_one_message() {
        assert_eq!(split_message("one\ntwo", 4096), vec!["one\ntwo"]);
    }

    #[test]
    fn long_text_splits_on_line_boundaries_within_the_limit() {
        let line = "x".repeat(100);
        let text = vec![line.as_str(); 100].join("\n"); // 100 * 101 - 1 = 10_099 chars
        let parts = split_message(&text, MAX_MESSAGE_LEN);
        assert_eq!(parts.len(), 3);
        for p in &parts {
            assert!(utf16_len(p) <= MAX_MESSAGE_LEN);
            assert!(p.split('\n').all(|l| l == line), "a line was cut");
        }
        assert_eq!(parts.join("\n"), text, "nothing lost or added");
    }

    #[test]
    fn a_single_overlong_line_is_cut_at_char_boundaries() {
        let text = "é".repeat(5000);
        let parts = split_message(&text, MAX_MESSAGE_LEN);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].chars().count(), 4096);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn limit_counts_utf16_units() {
        // An emoji is two UTF-16 units: 3 of them do not fit in 5.
        let parts = split_message("😀😀😀", 5);
        assert_eq!(parts, vec!["😀😀", "😀"]);
    }
}
