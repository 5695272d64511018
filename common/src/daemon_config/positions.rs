//! Where each key and array element sits in a daemon.json text.
//!
//! serde_json reports positions only for syntax errors; a wrong type or a
//! bad value found later would otherwise have no line to show. This scanner
//! runs over text serde_json already accepted, so it can skip error handling.

use std::collections::BTreeMap;
use std::fmt;

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a path the way messages name nested values: `runtimes.crun.path`,
/// `default-address-pools[1].size`.
pub struct PathDisplay<'a>(pub &'a [Seg]);

impl fmt::Display for PathDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based (line, column) of every object key and array element, by path.
#[derive(Debug, Default)]
pub struct Positions {
    at: BTreeMap<Vec<Seg>, (usize, usize)>,
}

impl Positions {
    pub fn scan(text: &str) -> Positions {
        let mut scanner = Scanner {
            text,
            pos: 0,
            line_starts: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            found: BTreeMap::new(),
        };
        scanner.value(&mut Vec::new());
        Positions { at: scanner.found }
    }

    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn get(&self, path: &[Seg]) -> Option<(usize, usize)> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.at.get(&path[..n]).copied())
    }

    pub fn line_of_key(&self, key: &str) -> Option<(usize, usize)> {
        self.get(&[Seg::Key(key.to_string())])
    }
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    line_starts: Vec<usize>,
    found: BTreeMap<Vec<Seg>, (usize, usize)>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }

    fn record(&mut self, path: &[Seg], offset: usize) {
        let at = self.line_col(offset);
        self.found.insert(path.to_vec(), at);
    }

    fn value(&mut self, path: &mut Vec<Seg>) {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(path),
            Some(b'[') => self.array(path),
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
                ) {
                    self.pos += 1;
                }
            }
            None => {}
        }
    }

    fn object(&mut self, path: &mut Vec<Seg>) {
        self.pos += 1;
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                self.pos += usize::from(self.peek() == Some(b'}'));
                return;
            }
            let start = self.pos;
            let key = self.string();
            path.push(Seg::Key(key));
            self.record(path, start);
            self.skip_ws();
            self.pos += usize::from(self.peek() == Some(b':'));
            self.value(path);
            path.pop();
            self.skip_ws();
            if self.peek() != Some(b',') {
                self.pos += usize::from(self.peek() == Some(b'}'));
                return;
            }
            self.pos += 1;
        }
    }

    fn array(&mut self, path: &mut Vec<Seg>) {
        self.pos += 1;
        let mut index = 0;
        loop {
            self.skip_ws();
            match self.peek() {
                None => return,
                Some(b']') => {
                    self.pos += 1;
                    return;
                }
                Some(_) => {}
            }
            path.push(Seg::Index(index));
            self.record(path, self.pos);
            self.value(path);
            path.pop();
            index += 1;
            self.skip_ws();
            if self.peek() != Some(b',') {
                self.pos += usize::from(self.peek() == Some(b']'));
                return;
            }
            self.pos += 1;
        }
    }

    /// Consumes a string literal and returns its decoded content.
    fn string(&mut self) -> String {
        let start = self.pos;
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'"' => break,
                _ => {}
            }
        }
        let end = self.pos.min(self.text.len());
        serde_json::from_str(&self.text[start..end]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    #[test]
    fn finds_keys_and_elements() {
        let text = "{\n  \"debug\": true,\n  \"pools\": [\n    {\"base\": \"x\", \"size\": 1},\n    {\"size\": \"y\"}\n  ],\n  \"k\\u00e9\": {\"a\": [1, [2]]}\n}";
        let p = Positions::scan(text);
        assert_eq!(p.line_of_key("debug"), Some((2, 3)));
        assert_eq!(p.line_of_key("pools"), Some((3, 3)));
        assert_eq!(p.get(&[key("pools"), Seg::Index(0)]), Some((4, 5)));
        assert_eq!(
            p.get(&[key("pools"), Seg::Index(0), key("size")]),
            Some((4, 19))
        );
        assert_eq!(
            p.get(&[key("pools"), Seg::Index(1), key("size")]),
            Some((5, 6))
        );
        assert_eq!(p.line_of_key("k\u{e9}"), Some((7, 3)));
        assert_eq!(
            p.get(&[key("k\u{e9}"), key("a"), Seg::Index(1), Seg::Index(0)]),
            Some((7, 25))
        );
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let p = Positions::scan("{\"a\": {\n\"b\": 1}}");
        assert_eq!(p.get(&[key("a"), key("zzz")]), Some((1, 2)));
        assert_eq!(p.get(&[key("a"), key("b")]), Some((2, 1)));
        assert_eq!(p.get(&[key("nope")]), None);
    }

    #[test]
    fn strings_with_escaped_quotes_and_brackets() {
        let p = Positions::scan(r#"{"a": "x\"}]", "b": ["\\", "]"], "c": 1}"#);
        assert_eq!(p.line_of_key("c"), Some((1, 34)));
        assert_eq!(p.get(&[key("b"), Seg::Index(1)]), Some((1, 28)));
    }

    #[test]
    fn path_display() {
        let path = [key("default-address-pools"), Seg::Index(1), key("size")];
        assert_eq!(
            PathDisplay(&path).to_string(),
            "default-address-pools[1].size"
        );
    }
}
