//! The one error type of configuration loading.

use std::fmt;
use std::path::PathBuf;

/// Why a configuration was refused.
///
/// `message` reads like dockerd's (with "Berth" for "Docker"); `Display`
/// adds dockerd's "unable to configure ... with file" prefix when a file is
/// involved and always stays on one line, so berthd can print it as is. The
/// other fields let the settings panel point at the offending key and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub key: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            key: None,
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub(crate) fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub(crate) fn at(mut self, pos: Option<(usize, usize)>) -> Self {
        if let Some((line, column)) = pos {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages may quote user text; a newline in it must not split the line.
        let message = self.message.replace(['\n', '\r'], " ");
        match &self.file {
            Some(file) => write!(
                f,
                "unable to configure the Berth daemon with file {}: {message}",
                file.display()
            ),
            None => f.write_str(&message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prefixes_the_file_and_stays_on_one_line() {
        let mut e = ConfigError::new("bad\nthing").key("debug").at(Some((2, 3)));
        assert_eq!(e.to_string(), "bad thing");
        e.file = Some("/p/daemon.json".into());
        assert_eq!(
            e.to_string(),
            "unable to configure the Berth daemon with file /p/daemon.json: bad thing"
        );
        assert_eq!(
            (e.key.as_deref(), e.line, e.column),
            (Some("debug"), Some(2), Some(3))
        );
    }
}
