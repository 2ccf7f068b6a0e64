//! A small element tree shared by the OFX and CAMT parsers. Statements are small (a few MB at
//! most), and reading "the first `Acct/Id/IBAN` under this `Stmt`" from a tree is far clearer
//! than tracking paths in an event loop. Elements are named by their local name (namespace
//! prefixes dropped: CAMT namespaces change with every version).

use super::text::{LineCounter, collapse_ws};
use crate::finance::ParseIssue;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;

/// Deeper nesting than any statement format uses; the limit keeps hostile input from
/// overflowing the stack when a tree is dropped or walked.
pub(crate) const MAX_DEPTH: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// The element's own text (not its children's), as read: trim before use.
    pub text: String,
    pub children: Vec<Node>,
    /// 1-based line of the start tag.
    pub line: usize,
}

impl Node {
    pub fn new(name: &str, line: usize) -> Self {
        Self {
            name: name.to_owned(),
            line,
            ..Self::default()
        }
    }

    pub fn children<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first element reached by following `path` down the children, trying every
    /// same-named sibling on the way (so `Bal/Tp/…` works whichever `Bal` has it).
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        self.children(first).find_map(|c| c.at(rest))
    }

    /// The collapsed, non-empty text at `path`.
    pub fn text_at(&self, path: &[&str]) -> Option<String> {
        let Some((first, rest)) = path.split_first() else {
            return super::text::non_empty(&self.text);
        };
        self.children(first).find_map(|c| c.text_at(rest))
    }

    /// All descendants named `name`, in document order (not descending into matches).
    pub fn descendants<'a>(&'a self, name: &str) -> Vec<&'a Node> {
        self.descendants_in(&[name])
    }

    /// All descendants named any of `names`, in document order (not descending into matches).
    pub fn descendants_in<'a>(&'a self, names: &[&str]) -> Vec<&'a Node> {
        let mut found = Vec::new();
        let mut stack: Vec<&Node> = self.children.iter().rev().collect();
        while let Some(node) = stack.pop() {
            if names.contains(&node.name.as_str()) {
                found.push(node);
            } else {
                stack.extend(node.children.iter().rev());
            }
        }
        found
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Collapsed own text.
    pub fn value(&self) -> String {
        collapse_ws(&self.text)
    }
}

/// Attaches `node` to the element on top of `stack`.
fn attach(stack: &mut [Node], node: Node) {
    if let Some(parent) = stack.last_mut() {
        parent.children.push(node);
    }
}

/// Builds a tree from well-formed XML. The root returned is synthetic (empty name) and holds
/// the document element. Malformed XML, including a document cut short, is an `Err` located
/// at its line.
pub(crate) fn parse_xml(text: &str) -> Result<Node, ParseIssue> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut lines = LineCounter::new(text);
    let mut stack = vec![Node::new("", 1)];
    loop {
        let before = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            ParseIssue::new(
                format!("line {}", lines.line_at(reader.error_position())),
                format!("malformed XML: {e}"),
            )
        })?;
        match event {
            Event::Start(_) | Event::Empty(_) if stack.len() > MAX_DEPTH => {
                return Err(ParseIssue::new(
                    format!("line {}", lines.line_at(before)),
                    "XML nested too deeply",
                ));
            }
            Event::Start(e) => {
                let mut node = Node::new(e.local_name().as_ref(), lines.line_at(before));
                node.attrs = attributes(&e);
                stack.push(node);
            }
            Event::Empty(e) => {
                let mut node = Node::new(e.local_name().as_ref(), lines.line_at(before));
                node.attrs = attributes(&e);
                attach(&mut stack, node);
            }
            Event::End(_) => {
                // quick-xml checks that end names match, so this pops the element it closes.
                if stack.len() > 1
                    && let Some(node) = stack.pop()
                {
                    attach(&mut stack, node);
                }
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()),
            Event::CData(t) => push_text(&mut stack, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => resolve_predefined_entity(&r)
                        .map_or_else(|| format!("&{};", &*r), str::to_owned),
                };
                push_text(&mut stack, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() > 1 {
        let open = stack.last().map(|n| n.name.clone()).unwrap_or_default();
        return Err(ParseIssue::new(
            format!("line {}", lines.line_at(reader.buffer_position())),
            format!("malformed XML: file ends inside <{open}> (truncated?)"),
        ));
    }
    Ok(stack.pop().unwrap_or_default())
}

fn push_text(stack: &mut [Node], text: &str) {
    if let Some(top) = stack.last_mut() {
        top.text.push_str(text);
    }
}

fn attributes(e: &quick_xml::events::BytesStart<'_>) -> Vec<(String, String)> {
    e.attributes()
        .flatten()
        .map(|a| {
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_default();
            (a.key.local_name().as_ref().to_owned(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_local_names_and_entities() {
        let xml = "<?xml version=\"1.0\"?>\n<n:Doc xmlns:n=\"urn:x\">\n <n:A Ccy=\"EUR\">1 &amp; 2&#33;</n:A>\n <B/><A>x</A></n:Doc>";
        let root = parse_xml(xml).expect("well-formed");
        let doc = root.at(&["Doc"]).expect("doc");
        assert_eq!(doc.line, 2);
        let a = doc.at(&["A"]).expect("a");
        assert_eq!(
            (a.value().as_str(), a.attr("Ccy"), a.line),
            ("1 & 2!", Some("EUR"), 3)
        );
        assert_eq!(root.descendants("A").len(), 2);
        assert_eq!(doc.text_at(&["B"]), None);
    }

    #[test]
    fn malformed_and_truncated_xml_are_located_errors() {
        let err = parse_xml("<a>\n<b></c></a>").expect_err("mismatch");
        assert_eq!(err.location, "line 2");
        let err = parse_xml("<a>\n<b>text").expect_err("truncated");
        assert!(err.reason.contains("truncated"), "{err}");
        let deep = "<a>".repeat(MAX_DEPTH + 5);
        assert!(parse_xml(&deep).is_err());
    }
}
