//! A tolerant tokenizer for OFX bodies, both 1.x SGML and 2.x XML, into the shared [`Node`]
//! tree. No maintained crate reads OFX 1.x, whose leaf elements have no end tags
//! (`<TRNAMT>-12.50`); and real OFX 2.x files are often not well-formed either, so one
//! forgiving reader serves both.
//!
//! Rules: an element followed by text is a leaf, closed by the next tag if its end tag is
//! missing; an element followed by a tag is an aggregate. An end tag closes the nearest open
//! element of that name and everything opened after it; an element closed that way which had
//! taken children was really an empty leaf (`<MEMO>` with no value), so its children are
//! handed back to its parent. Stray end tags are ignored. It never fails: whether the tree
//! holds an OFX statement is for the caller to decide.

use super::tree::{MAX_DEPTH, Node};

pub(crate) fn parse_sgml(text: &str) -> Node {
    let mut stack = vec![Node::new("", 1)];
    let mut line = 1;
    let mut pos = 0;
    while pos < text.len() {
        let Some(lt) = text[pos..].find('<').map(|i| pos + i) else {
            push_text(&mut stack, &text[pos..]);
            break;
        };
        push_text(&mut stack, &text[pos..lt]);
        line += newlines(&text[pos..lt]);
        let after = &text[lt + 1..];
        // Comments, CDATA, declarations and processing instructions (the OFX 2 headers).
        let skip = if after.starts_with("!--") {
            Some(("-->", false))
        } else if after.starts_with("![CDATA[") {
            Some(("]]>", true))
        } else if after.starts_with('!') || after.starts_with('?') {
            Some((">", false))
        } else {
            None
        };
        if let Some((terminator, is_text)) = skip {
            let end = after.find(terminator).map_or(text.len(), |i| lt + 1 + i);
            if is_text {
                let start = (lt + "<![CDATA[".len()).min(end);
                push_raw(&mut stack, &text[start..end]);
            }
            let next = (end + terminator.len()).min(text.len());
            line += newlines(&text[lt..next]);
            pos = next;
            continue;
        }
        let inner = after.find('>').map(|gt| &after[..gt]);
        let Some(inner) = inner.filter(|i| !i.contains('<')) else {
            // A lone `<` in text (`<MEMO>A<B`): keep it as text.
            push_raw(&mut stack, "<");
            pos = lt + 1;
            continue;
        };
        let tag_line = line;
        line += newlines(inner);
        pos = lt + 1 + inner.len() + 1;
        if let Some(name) = inner.strip_prefix('/') {
            close(&mut stack, name.trim());
            continue;
        }
        let self_closing = inner.ends_with('/');
        let name = inner.trim_end_matches('/').split_whitespace().next();
        match name.filter(|n| is_name(n)) {
            Some(name) => open(&mut stack, name, tag_line, self_closing),
            None => push_raw(&mut stack, &text[lt..pos]),
        }
    }
    // End of input: whatever is still open is closed as it stands (a truncated file keeps the
    // structure it had).
    while stack.len() > 1 {
        if let Some(node) = stack.pop() {
            attach(&mut stack, node);
        }
    }
    stack.pop().unwrap_or_default()
}

fn is_name(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
}

fn newlines(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'\n').count()
}

fn open(stack: &mut Vec<Node>, name: &str, line: usize, self_closing: bool) {
    // The open element already has text: it was a leaf whose end tag SGML left out.
    if stack.len() > 1
        && stack.last().is_some_and(|top| !top.text.trim().is_empty())
        && let Some(leaf) = stack.pop()
    {
        attach(stack, leaf);
    }
    let node = Node::new(&name.to_ascii_uppercase(), line);
    if self_closing || stack.len() > MAX_DEPTH {
        attach(stack, node);
    } else {
        stack.push(node);
    }
}

fn close(stack: &mut Vec<Node>, name: &str) {
    let Some(i) = stack
        .iter()
        .rposition(|n| n.name.eq_ignore_ascii_case(name))
        .filter(|&i| i > 0)
    else {
        return;
    };
    while stack.len() > i + 1 {
        if let Some(mut node) = stack.pop() {
            let adopted = std::mem::take(&mut node.children);
            attach(stack, node);
            if let Some(parent) = stack.last_mut() {
                parent.children.extend(adopted);
            }
        }
    }
    if let Some(node) = stack.pop() {
        attach(stack, node);
    }
}

fn attach(stack: &mut [Node], node: Node) {
    if let Some(parent) = stack.last_mut() {
        parent.children.push(node);
    }
}

fn push_text(stack: &mut [Node], raw: &str) {
    if !raw.is_empty() {
        push_raw(stack, &decode_entities(raw));
    }
}

fn push_raw(stack: &mut [Node], text: &str) {
    if let Some(top) = stack.last_mut() {
        top.text.push_str(text);
    }
}

/// The XML/SGML character references OFX uses; anything else is kept literally.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = rest[1..]
            .find(';')
            .filter(|&semi| semi <= 10)
            .and_then(|semi| Some((resolve(&rest[1..=semi])?, semi + 2)));
        match entity {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn resolve(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_without_end_tags_and_empty_leaves() {
        let sgml = "<OFX>\n<STMTTRN>\n<TRNAMT>-1.00\n<MEMO>\n<NAME>A &amp; B\n</STMTTRN>\n<STMTTRN><TRNAMT>2</TRNAMT></STMTTRN></OFX>";
        let root = parse_sgml(sgml);
        let trns = root.descendants("STMTTRN");
        assert_eq!(trns.len(), 2);
        assert_eq!(trns[0].line, 2);
        let names: Vec<&str> = trns[0].children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["TRNAMT", "MEMO", "NAME"]);
        assert_eq!(trns[0].text_at(&["NAME"]).as_deref(), Some("A & B"));
        assert_eq!(trns[1].text_at(&["TRNAMT"]).as_deref(), Some("2"));
    }

    #[test]
    fn tolerates_junk() {
        let xml = "<?xml?><!-- c --><A><B>x < y</B><C>&#x41;&bogus;</X></A><![CDATA[<z>";
        let a = parse_sgml(xml)
            .at(&["A"])
            .map(|a| (a.text_at(&["B"]), a.text_at(&["C"])));
        let expected = (Some("x < y".to_owned()), Some("A&bogus;".to_owned()));
        assert_eq!(a, Some(expected));
        for junk in [
            "<",
            "<<>>",
            "</>",
            "<!--",
            "<![CDATA[",
            "&#xFFFFFFFF;",
            "<A><B><C>",
        ] {
            let _ = parse_sgml(junk);
        }
    }
}
