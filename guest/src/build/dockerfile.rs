//! Reading a Dockerfile: parser directives, comments, line continuations,
//! instructions with their `--flags`, and the variable expansion the
//! builder applies to most instructions' arguments.

use std::collections::HashMap;

use crate::errdefs::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The keyword, upper case (`RUN`).
    pub keyword: String,
    /// Leading `--name=value` flags (`COPY --chown=1:1`, `FROM --platform=…`).
    pub flags: Vec<(String, String)>,
    /// The rest of the instruction, continuation lines joined.
    pub args: String,
    /// The instruction as written (for "Step 2/5 : …").
    pub text: String,
    /// Its first line in the Dockerfile.
    pub line: usize,
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The exec form (`["a", "b"]`) when the arguments are a JSON array of
    /// strings, else `None` (the shell form).
    pub fn exec_form(&self) -> Option<Vec<String>> {
        let a = self.args.trim();
        if !a.starts_with('[') {
            return None;
        }
        serde_json::from_str(a).ok()
    }
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Vec<Instruction>> {
    let mut escape = '\\';
    let mut lines = text.lines().enumerate().peekable();
    // Parser directives: `# name=value` lines before anything else.
    while let Some((_, line)) = lines.peek() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((name, value)) = directive.split_once('=') else {
            break;
        };
        let name = name.trim().to_ascii_lowercase();
        if name.contains(char::is_whitespace) {
            break;
        }
        if name == "escape" {
            escape = match value.trim() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(Error::invalid(format!(
                        "invalid escape token '{other}' does not match ` or \\"
                    )))
                }
            };
        }
        lines.next();
    }

    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in lines {
        let trimmed = raw.trim();
        // Comment lines go, also inside a continued instruction.
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.is_empty() && pending.is_none() {
            continue;
        }
        let (start, mut acc) = pending.take().unwrap_or((n + 1, String::new()));
        let body = raw.trim_end();
        if let Some(cut) = body.strip_suffix(escape) {
            acc.push_str(cut);
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(body);
        out.push(instruction(start, acc.trim())?);
    }
    if let Some((start, acc)) = pending {
        if !acc.trim().is_empty() {
            out.push(instruction(start, acc.trim())?);
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "the Dockerfile cannot be empty: it needs at least a FROM",
        ));
    }
    Ok(out)
}

fn instruction(line: usize, text: &str) -> Result<Instruction> {
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let keyword = word.to_ascii_uppercase();
    let mut rest = rest.trim_start();
    let mut flags = Vec::new();
    // Flags only where Docker has them; elsewhere `--x` is an argument.
    if matches!(
        keyword.as_str(),
        "FROM" | "COPY" | "ADD" | "RUN" | "HEALTHCHECK"
    ) {
        while let Some(flag) = rest.strip_prefix("--") {
            let (word, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
            let (name, value) = word.split_once('=').unwrap_or((word, ""));
            flags.push((name.to_string(), value.to_string()));
            rest = tail.trim_start();
        }
    }
    if rest.is_empty() && keyword != "HEALTHCHECK" {
        return Err(Error::invalid(format!(
            "Dockerfile parse error line {line}: {keyword} requires at least one argument"
        )));
    }
    Ok(Instruction {
        keyword,
        flags,
        args: rest.to_string(),
        text: text.to_string(),
        line,
    })
}

/// Expands `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}`
/// from `vars`; `\$` is a literal dollar sign. Single quotes do not stop
/// expansion here (they do in a shell): Docker's rule for the instructions
/// it expands itself.
pub fn expand(s: &str, vars: &HashMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                out.push('$');
                chars.next();
            }
            '$' => match chars.peek() {
                Some('{') => {
                    chars.next();
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => inner.push(c),
                            None => {
                                return Err(Error::invalid(format!("missing '}}' in: {s}")));
                            }
                        }
                    }
                    out.push_str(&braced(&inner, vars));
                }
                Some(c) if c.is_ascii_alphanumeric() || *c == '_' => {
                    let mut name = String::new();
                    while let Some(&c) = chars.peek() {
                        if !(c.is_ascii_alphanumeric() || c == '_') {
                            break;
                        }
                        name.push(c);
                        chars.next();
                    }
                    out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
                }
                _ => out.push('$'),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

fn braced(inner: &str, vars: &HashMap<String, String>) -> String {
    let set = |name: &str| vars.get(name).filter(|v| !v.is_empty());
    if let Some((name, default)) = inner.split_once(":-") {
        return set(name).cloned().unwrap_or_else(|| default.to_string());
    }
    if let Some((name, alt)) = inner.split_once(":+") {
        return set(name).map(|_| alt.to_string()).unwrap_or_default();
    }
    vars.get(inner).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_comments_continuations_and_flags() {
        let df = "# syntax=docker/dockerfile:1\n\
                  FROM busybox AS base\n\
                  # a comment\n\
                  \n\
                  RUN echo one \\\n\
                  # inside\n\
                    && echo two\n\
                  copy --chown=1:2 a b /dst/\n\
                  CMD [\"sh\", \"-c\", \"echo hi\"]\n";
        let ins = parse(df).unwrap();
        let words: Vec<_> = ins.iter().map(|i| i.keyword.as_str()).collect();
        assert_eq!(words, ["FROM", "RUN", "COPY", "CMD"]);
        assert_eq!(ins[0].args, "busybox AS base");
        assert_eq!(ins[0].line, 2);
        assert_eq!(ins[1].args, "echo one && echo two");
        assert_eq!(ins[1].line, 5);
        assert_eq!(ins[2].flag("chown"), Some("1:2"));
        assert_eq!(ins[2].args, "a b /dst/");
        assert_eq!(
            ins[3].exec_form().unwrap(),
            vec!["sh".to_string(), "-c".into(), "echo hi".into()]
        );
        assert_eq!(ins[1].exec_form(), None);
    }

    #[test]
    fn the_escape_directive_changes_the_continuation() {
        let ins = parse("# escape=`\nFROM busybox\nRUN echo a `\n b\nCOPY c:\\x \\y\n").unwrap();
        assert_eq!(ins[1].args, "echo a  b");
        assert_eq!(ins[2].args, "c:\\x \\y");
        assert!(parse("# escape=x\nFROM a\n").is_err());
    }

    #[test]
    fn bad_dockerfiles_are_refused_with_the_line() {
        assert!(parse("").is_err());
        assert!(parse("# only a comment\n").is_err());
        let e = parse("FROM busybox\nRUN\n").unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
        assert!(e.message.contains("RUN requires at least one argument"));
    }

    #[test]
    fn variables_expand_like_dockers() {
        let vars: HashMap<String, String> = [("A", "1"), ("EMPTY", ""), ("P", "/app")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let x = |s| expand(s, &vars).unwrap();
        assert_eq!(x("$A-${A}x"), "1-1x");
        assert_eq!(x("${P}/bin:$NOPE:"), "/app/bin::");
        assert_eq!(x("${EMPTY:-d} ${A:-d} ${A:+alt} ${EMPTY:+alt}"), "d 1 alt ");
        assert_eq!(x("\\$A costs $ 5"), "$A costs $ 5");
        assert!(expand("${A", &vars).is_err());
    }
}
