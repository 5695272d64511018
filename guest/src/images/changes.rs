//! `--change` instructions (`docker import`, later `docker commit`): the
//! Dockerfile instructions that only edit the image config.

use serde_json::{json, Map, Value};

use crate::errdefs::{Error, Result};

/// Applies each instruction (`CMD ["sh"]`, `ENV A=b`, `EXPOSE 80`, …) to the
/// `config` object of an image config.
pub fn apply(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    for change in changes {
        let change = change.trim();
        if change.is_empty() {
            continue;
        }
        let (word, rest) = change
            .split_once(char::is_whitespace)
            .unwrap_or((change, ""));
        let rest = rest.trim();
        match word.to_ascii_uppercase().as_str() {
            "CMD" => {
                config.insert("Cmd".into(), json!(exec_or_shell(rest)));
            }
            "ENTRYPOINT" => {
                config.insert("Entrypoint".into(), json!(exec_or_shell(rest)));
            }
            "ENV" => {
                let env = config.entry("Env").or_insert_with(|| json!([]));
                for (k, v) in key_values(rest, "ENV")? {
                    let list = env
                        .as_array_mut()
                        .ok_or_else(|| Error::invalid("Env is not a list"))?;
                    list.retain(|e| {
                        e.as_str().and_then(|s| s.split_once('=')).map(|(ek, _)| ek)
                            != Some(k.as_str())
                    });
                    list.push(json!(format!("{k}={v}")));
                }
            }
            "LABEL" => {
                let labels = config.entry("Labels").or_insert_with(|| json!({}));
                for (k, v) in key_values(rest, "LABEL")? {
                    labels[k] = json!(v);
                }
            }
            "EXPOSE" => {
                let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    ports[p] = json!({});
                }
            }
            "VOLUME" => {
                let vols = config.entry("Volumes").or_insert_with(|| json!({}));
                for v in exec_or_words(rest) {
                    vols[v] = json!({});
                }
            }
            "USER" => {
                config.insert("User".into(), json!(rest));
            }
            "WORKDIR" => {
                config.insert("WorkingDir".into(), json!(rest));
            }
            "STOPSIGNAL" => {
                config.insert("StopSignal".into(), json!(rest));
            }
            "ONBUILD" => {
                let list = config.entry("OnBuild").or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(rest));
                }
            }
            other => {
                return Err(Error::invalid(format!(
                    "{other} is not a valid change command"
                )))
            }
        }
    }
    Ok(())
}

/// `["a","b"]` is exec form; anything else runs through `/bin/sh -c`.
fn exec_or_shell(s: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(s) {
        Ok(v) => v,
        Err(_) => vec!["/bin/sh".into(), "-c".into(), s.into()],
    }
}

fn exec_or_words(s: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(s)
        .unwrap_or_else(|_| s.split_whitespace().map(String::from).collect())
}

/// `A=1 B="two words"` or the legacy `A value with spaces`.
fn key_values(s: &str, what: &str) -> Result<Vec<(String, String)>> {
    if !s.contains('=') {
        let (k, v) = s
            .split_once(char::is_whitespace)
            .ok_or_else(|| Error::invalid(format!("{what} requires at least one argument")))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut word = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            chars.next();
            match (quote, c) {
                (None, '"') | (None, '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
                (_, c) => word.push(c),
            }
        }
        if word.is_empty() {
            continue;
        }
        let (k, v) = word.split_once('=').ok_or_else(|| {
            Error::invalid(format!("{what} names must be followed by =value: {word}"))
        })?;
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_the_common_instructions() {
        let mut c = Map::new();
        apply(
            &mut c,
            &[
                r#"CMD ["/bin/sh","-c","echo hi"]"#.into(),
                "ENTRYPOINT /init".into(),
                r#"ENV A=1 B="two words""#.into(),
                "ENV A=3".into(),
                "EXPOSE 80 53/udp".into(),
                "LABEL role=web".into(),
                "WORKDIR /srv".into(),
                "USER 1000:1000".into(),
            ],
        )
        .unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/init"]));
        assert_eq!(c["Env"], json!(["B=two words", "A=3"]));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"role": "web"}));
        assert_eq!(c["WorkingDir"], json!("/srv"));
        assert_eq!(c["User"], json!("1000:1000"));
    }

    #[test]
    fn unknown_instructions_are_refused() {
        let err = apply(&mut Map::new(), &["RUN make".into()]).unwrap_err();
        assert_eq!(err.message, "RUN is not a valid change command");
    }
}
